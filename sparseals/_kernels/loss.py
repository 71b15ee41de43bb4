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
