"""One context manager for threads: numba's count set, BLAS pinned, both restored."""

import os
import threading
from contextlib import contextmanager

from ._kernels._options import ROW_CHUNK
from ._validation import optional_int

_LOCK = threading.RLock()
# Numba's workqueue layer aborts the process when two threads enter parallel kernels
# at once; serialising our parallel sections makes any layer safe.


_CONTROLLER = None


def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries, found once.

    Finding them reads the process's memory map (about 1.5 ms), which every
    half-step would otherwise pay; numpy's BLAS and scipy's (the one numba's
    ``np.dot`` calls) are loaded first, so both are in it.
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        import scipy.linalg.cython_blas  # noqa: F401  (loads scipy's BLAS)
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def resolve_num_threads(num_threads):
    """The thread count to use: ``None`` or 0 means every core numba may use.

    Checked here, where every entry point passes it (``False`` is not 0, ``1.5`` not 1).
    """
    import numba

    optional_int(num_threads, "num_threads")
    limit = numba.config.NUMBA_NUM_THREADS
    if num_threads is None or num_threads == 0:
        return limit
    if num_threads < 0:  # -1: all, -2: all but one, as in joblib
        return max(1, limit + 1 + num_threads)
    return min(int(num_threads), limit)


@contextmanager
def kernel_threads(num_threads, blas=False):
    """Run numba parallel loops on ``num_threads`` threads, BLAS on one (or the same with ``blas``).

    Yields the resolved thread count. Holding BLAS to one thread inside our
    parallel loops avoids the oversubscription that slows peers down 10–20×;
    ``blas=True`` is for sections whose parallelism is a BLAS call itself.
    """
    import numba

    n = resolve_num_threads(num_threads)
    with _LOCK:
        previous = numba.get_num_threads()
        numba.set_num_threads(n)
        try:
            # dynamic chunks of rows keep threads busy when row lengths follow a power law
            with numba.parallel_chunksize(ROW_CHUNK), \
                    _blas_controller().limit(limits=n if blas else 1, user_api="blas"):
                yield n
        finally:
            numba.set_num_threads(previous)



_AVX512_FEATURES = ("avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd")
_AVX512_CORES = {"skylakex", "cooperlake", "sapphirerapids"}
"""OpenBLAS cores whose kernels use AVX-512 (threadpoolctl's ``architecture``, lowercased)."""


def blas_advice():
    """A line of advice when OpenBLAS runs AVX2 kernels on a CPU with AVX-512, else None.

    OpenBLAS picks its kernels by CPU model when it loads, unless ``OPENBLAS_CORETYPE``
    names them. On AMD Zen 5 (family 26) the OpenBLAS 0.3.30 / 0.3.31 of scipy's and
    numpy's wheels pick their SkylakeX (AVX-512) kernels by themselves; with
    ``OPENBLAS_CORETYPE=Haswell`` in the environment (some machines set it to work around
    older OpenBLAS builds) they run their AVX2 ones, at half the sgemm rate on 2 cores
    (240 against 465 GFLOP/s) and with ExplicitALS 2.2× slower (its Gram products are
    BLAS calls). The advice names the variable when it is set, and otherwise suggests it.
    """
    try:
        from llvmlite import binding

        features = binding.get_host_cpu_features()
    except Exception:  # no feature list on this platform: no advice
        return None
    if not all(features.get(name) for name in _AVX512_FEATURES):
        return None
    slow = [info for info in _blas_controller().info()
            if info.get("internal_api") == "openblas"
            and (info.get("architecture") or "").lower() not in _AVX512_CORES]
    if not slow:
        return None
    versions = " and ".join(sorted({str(info.get("version")) for info in slow}))
    cores = "/".join(sorted({str(info.get("architecture")) for info in slow}))
    their = "its" if len(slow) == 1 else "their"
    forced = os.environ.get("OPENBLAS_CORETYPE")
    if forced:
        return (f"OPENBLAS_CORETYPE={forced} in the environment has OpenBLAS {versions} "
                f"run {their} {cores} kernels on this CPU, which has AVX-512: unless it is "
                "there to work around an older OpenBLAS, start Python without it (and "
                "without OPENBLAS_L2_SIZE) to let OpenBLAS pick its AVX-512 kernels "
                "(on AMD Zen 5, sgemm and ExplicitALS about 2x faster)")
    runs = "runs" if len(slow) == 1 else "run"
    return (f"OpenBLAS {versions} {runs} {their} {cores} kernels on this CPU, which has AVX-512: "
            "set OPENBLAS_CORETYPE=SkylakeX before Python starts to get the AVX-512 kernels "
            "(on AMD Zen 5, sgemm and ExplicitALS about 2x faster)")
