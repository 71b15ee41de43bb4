"""Peak-memory estimate of a fit, checked before anything large is allocated."""

import os

import numpy as np

GIB = 2.0 ** 30


def available_bytes():
    """Memory the system can still give this process (Linux ``MemAvailable``), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def fit_bytes(shape, nnz, factors, dtype, ratings_to_build, values_to_copy, listed=0,
              systems=True):
    """Bytes a fit allocates beyond its input.

    Two copies of the factors (the live ones and the last completed iteration's),
    the ratings by user and by item when they must be built from the input (plus the
    transient arrays of that conversion), a copy of the values when only the dtype
    changes, the ``listed`` ratings that the fit lists once more (at most 4 bytes and a
    value each: the implicit CG's long rows, sparseals/_kernels/long_rows.py), per-row
    work arrays, per thread the gathered factor rows and, for solvers that form each
    row's K × K system (``systems``: all but the implicit CG), three such matrices, and
    the K × K matrices shared by all rows.
    """
    n_users, n_items = shape
    itemsize = np.dtype(dtype).itemsize
    total = 2 * (n_users + n_items) * (factors + 1) * itemsize
    one_side = nnz * (4 + itemsize) + 8 * (max(n_users, n_items) + 1)
    listed_bytes = listed * (4 + itemsize)
    if ratings_to_build:
        # CSR + CSC, and COO on the way, which is freed before anything is listed
        total += 2 * one_side + max(nnz * (8 + 8 + itemsize), listed_bytes)
    else:
        total += listed_bytes + (2 * nnz * itemsize if values_to_copy else 0)
    total += 8 * (n_users + n_items)  # per-row losses and status
    # per-thread gather blocks (4 MiB, or 1024 rows when K is large: two for the exact
    # implicit solver), the rows' systems (normal matrix, its factor, NNLS work), and
    # the bounded partial sums of the implicit CG's long rows (sparseals/_kernels/long_rows.py)
    per_thread = 2 * max(4 << 20, 1024 * (factors + 1) * itemsize)
    if systems:
        per_thread += 3 * (factors + 1) ** 2 * itemsize
    total += per_thread * (os.cpu_count() or 1) + (64 << 20)
    # a shared K × K matrix: the implicit Gram matrix, its float64 copy, eigenvectors and
    # LAPACK's work (the dense explicit path's system is one of them)
    total += 4 * 8 * (factors + 1) ** 2
    return total


def require(need, message):
    """Raise ``MemoryError(message(need_gib, available_gib))`` when ``need`` bytes exceed what
    the system can give (no check where that is unknown)."""
    available = available_bytes()
    if available is not None and need > available:
        raise MemoryError(message(need / GIB, available / GIB))


def check_fit_memory(model_name, shape, nnz, factors, dtype, ratings_to_build, values_to_copy,
                     listed=0, systems=True):
    """Raise MemoryError, with the estimate and what to change, if the fit cannot fit."""
    need = fit_bytes(shape, nnz, factors, dtype, ratings_to_build, values_to_copy, listed,
                     systems)
    hints = [f"fewer factors (now {factors})"]
    if np.dtype(dtype) == np.float64:
        hints.insert(0, "dtype='float32'")
    hints.append("the Dask backend (sparseals.distributed.fit)")
    require(need, lambda need_gib, available_gib: (
        f"{model_name}.fit would need about {need_gib:.2f} GiB on top of its input "
        f"({shape[0]:,} × {shape[1]:,}, {nnz:,} ratings, {factors} factors) but only "
        f"{available_gib:.2f} GiB is available; use " + ", ".join(hints)))
