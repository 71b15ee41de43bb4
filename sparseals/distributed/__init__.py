"""Fit sparseals models on a Dask cluster (the ``sparseals[dask]`` extra).

>>> from dask.distributed import Client                          # doctest: +SKIP
>>> import sparseals as sa, sparseals.distributed as sd           # doctest: +SKIP
>>> client = Client("tcp://scheduler:8786")                       # doctest: +SKIP
>>> model = sd.fit(sa.ExplicitALS(factors=32), ratings, client)   # doctest: +SKIP

Blocked ALS as in Spark: the ratings are split into user blocks (CSR row ranges)
and item blocks (CSC column ranges) that stay on the workers for the whole fit;
each half-step ships the fixed side's factors to the blocks (all of them, or only
the rows each block references) and runs :mod:`sparseals.solvers` there. The
fitted model is an ordinary model object, equal to a single-machine fit.
"""

try:
    import dask  # noqa: F401
    import distributed  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised without dask installed
    raise ImportError(
        "sparseals.distributed needs Dask's distributed scheduler, which is not installed; "
        "install it with: pip install sparseals[dask]"
    ) from error

from ._rows import DistributedRows
from .fit import fit

__all__ = ["fit", "DistributedRows"]
