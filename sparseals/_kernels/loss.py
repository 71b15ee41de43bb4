"""Losses, summed per row inside the parallel loop (then added up in a fixed order)."""

import numpy as np
from numba import njit, prange

from ._options import OUTER


@njit(**OUTER)
def explicit_row_losses(indptr, indices, data, row_factors, row_bias, col_factors, col_bias,
                        shift, use_bias):
    """Per row: the sum of squared residuals over the row's observed entries (float64)."""
    n_rows = row_factors.shape[0]
    k = row_factors.shape[1]
    out = np.zeros(n_rows, dtype=np.float64)
    for row in prange(n_rows):
        u = row_factors[row]
        total = 0.0
        for p in range(indptr[row], indptr[row + 1]):
            col = indices[p]
            v = col_factors[col]
            pred = shift
            if use_bias:
                pred += row_bias[row] + col_bias[col]
            for a in range(k):
                pred += u[a] * v[a]
            r = np.float64(data[p]) - pred
            total += r * r
        out[row] = total
    return out


@njit(**OUTER)
def implicit_row_losses(indptr, indices, data, row_factors, col_factors, c0, c1, alpha0):
    """Per row, the observed cells' part of the implicit loss (float64).

    Returns ``Σ_(j∈Ω_i) [c_ij (p_ij − s_ij)² − α₀ s_ij²]`` with ``s = u·v``,
    ``c = |c0 + c1·r|`` and ``p = (r > 0)``: the correction of the observed cells
    to ``α₀ Σ_all s²``, which the caller gets from the two Gram matrices.
    """
    n_rows = row_factors.shape[0]
    k = row_factors.shape[1]
    out = np.zeros(n_rows, dtype=np.float64)
    for row in prange(n_rows):
        u = row_factors[row]
        total = 0.0
        for p in range(indptr[row], indptr[row + 1]):
            v = col_factors[indices[p]]
            s = 0.0
            for a in range(k):
                s += u[a] * v[a]
            y = np.float64(data[p])
            c = abs(c0 + c1 * y)
            r = (1.0 if y > 0 else 0.0) - s
            total += c * r * r - alpha0 * s * s
        out[row] = total
    return out
