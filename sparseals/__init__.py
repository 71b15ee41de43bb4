"""sparseals: alternating least squares for large sparse rating matrices.

>>> import sparseals as sa
>>> model = sa.ExplicitALS(factors=16).fit(sa.Ratings.from_coo(users, items, ratings))  # doctest: +SKIP

Importing the package is cheap: the numba kernels load (and compile, once, into a
cache) on first use.
"""

__version__ = "0.1.0"

__all__ = ["Ratings", "ExplicitALS", "ImplicitALS", "load", "__version__"]

_LAZY = {"Ratings": "ratings", "ExplicitALS": "models", "ImplicitALS": "models",
         "load": "persistence"}


_SUBMODULES = ("datasets", "distributed", "metrics", "model_selection", "persistence",
               "solvers")
"""Public submodules, imported on first use as ``sparseals.solvers`` & co. (an attribute
error before: it worked only after something else had imported them)."""


def __getattr__(name):
    # models pull in numba; importing them on first use keeps `import sparseals` fast
    if name in _LAZY or name in _SUBMODULES:
        import importlib

        module = importlib.import_module(f".{_LAZY.get(name, name)}", __name__)
        value = module if name in _SUBMODULES else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sparseals' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY) + list(_SUBMODULES))
