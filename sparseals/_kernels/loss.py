"""Losses, summed per row inside the parallel loop (then added up in a fixed order)."""

import numpy as np
from numba import njit, prange

from ._options import INNER, OUTER
from .prefetch import prefetch_factor_row, worth_prefetching


@njit(**INNER)
def _dot(x, y, k):
    """``x[:k]·y[:k]`` in the arrays' dtype (float32 vectorises twice as wide as float64)."""
    # the sum starts from a zero of the arrays' dtype (a literal 0.0 would make it float64)
    # and the loop from 0: a loop from 1 leaves K − 1 iterations, whose scalar remainder
    # after the vector body cost a third of the CG products' time at K = 128
    s = x.dtype.type(0)
    for a in range(k):
        s += x[a] * y[a]
    return s


@njit(**OUTER)
def explicit_row_losses(indptr, indices, data, row_factors, row_bias, col_factors, col_bias,
                        shift, use_bias, columns):
    """Per row: the sum of squared residuals over the row's observed entries (float64),
    over the entries of the columns where ``columns`` is True (all if it is empty).

    Each dot product is summed in the factors' dtype (:func:`_dot`), the residual and the
    sums of squares in float64. A float32 dot is vectorised twice as wide as one
    summed in float64 (the pass took 0.73× the time on the ml20m shape at K = 64, the
    same at K = 128); its rounding is of the order of the factors' own and random in
    sign, so the row sums keep float64's accuracy up to that of the factors.
    """
    n_rows = row_factors.shape[0]
    k = row_factors.shape[1]
    out = np.zeros(n_rows, dtype=np.float64)
    for row in prange(n_rows):
        u = row_factors[row]
        total = 0.0
        for p in range(indptr[row], indptr[row + 1]):
            col = indices[p]
            if columns.shape[0] > 0 and not columns[col]:
                continue
            v = col_factors[col]
            pred = shift + np.float64(_dot(u, v, k))
            if use_bias:
                pred += row_bias[row] + col_bias[col]
            r = np.float64(data[p]) - pred
            total += r * r
        out[row] = total
    return out


@njit(**INNER)
def implicit_cell_loss(y, x, value, c0, c1, alpha0):
    """``c (p − s)² − α₀ s²`` for one stored cell: ``s = y·x`` summed in the factors' dtype
    (as in :func:`explicit_row_losses`), the rest in float64; ``c = |c0 + c1·r|``,
    ``p = (r > 0)``."""
    return implicit_score_loss(np.float64(_dot(y, x, x.shape[0])), value, c0, c1, alpha0)


@njit(**INNER)
def implicit_score_loss(s, value, c0, c1, alpha0):
    """:func:`implicit_cell_loss` from the cell's score ``s = y·x`` (float64)."""
    r = np.float64(value)
    c = abs(c0 + c1 * r)
    miss = (1.0 if r > 0 else 0.0) - s
    return c * miss * miss - alpha0 * s * s


@njit(**INNER)
def observed_implicit_loss(indices, data, start, end, other, x, c0, c1, alpha0, rows, gathered):
    """``Σ_(j∈Ω_i) [c_ij (p_ij − s_ij)² − α₀ s_ij²]``, ``s_ij = x·y_j``, for one row.

    The correction of the row's observed cells to ``α₀ Σ_all s²`` (which the caller
    gets from the two Gram matrices), with ``c = |c0 + c1·r|`` and ``p = (r > 0)``.
    ``y_j`` is ``rows[q]`` when ``gathered`` (the half-step's copy of the row's factor
    rows), else ``other[indices[start + q]]``. Returns float64.
    """
    total = 0.0
    hinted = worth_prefetching(other)
    for q in range(end - start):
        if gathered:
            y = rows[q]
        else:
            if hinted:
                prefetch_factor_row(other, indices, start + q, end)
            y = other[indices[start + q]]
        total += implicit_cell_loss(y, x, data[start + q], c0, c1, alpha0)
    return total


@njit(**OUTER)
def implicit_row_losses(indptr, indices, data, row_factors, col_factors, c0, c1, alpha0):
    """Per row, :func:`observed_implicit_loss` (float64)."""
    n_rows = row_factors.shape[0]
    out = np.zeros(n_rows, dtype=np.float64)
    for row in prange(n_rows):
        out[row] = observed_implicit_loss(indices, data, indptr[row], indptr[row + 1],
                                          col_factors, row_factors[row], c0, c1, alpha0,
                                          col_factors, False)
    return out
