"""asv: seconds of JIT compile that a first fit costs, per model, in a fresh process with
an empty numba cache (the measurement of ``first_fit.py``)."""

from .first_fit import MODELS, first_fit_seconds


def track_first_fit_compile_seconds(model):
    return first_fit_seconds(MODELS[model])[0]


track_first_fit_compile_seconds.params = list(MODELS)
track_first_fit_compile_seconds.param_names = ["model"]
track_first_fit_compile_seconds.unit = "seconds"
track_first_fit_compile_seconds.timeout = 300
