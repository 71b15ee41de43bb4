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


def __getattr__(name):
    # models pull in numba; importing them on first use keeps `import sparseals` fast
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sparseals' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
