"""The explicit-ALS half-step: one independent regularised least-squares solve per row.

Called twice per iteration: users from (CSR, item factors), items from (CSC, user
factors). With biases, the row's unknowns are ``[x_i, b_i]`` and each observed
entry contributes the design vector ``[y_j, 1]`` with target
``r_ij − shift − c_j`` (``c_j`` the other side's bias, ``shift`` the global mean);
this is the augmented-vector formulation of DESIGN §1 without storing the
constant columns.
"""

import numba
import numpy as np
from numba import njit, prange

from ._options import INNER, OUTER
from .blas import add_lower_product, set_row_products
from .solve import nnls, spd_solve


BLOCK = 128
"""Ratings gathered per block: each block's factor rows are copied into one contiguous
array whose Gram matrix (lower triangle) is added by BLAS, instead of one rank-1 update
per rating."""


def allocate_scratch(n_threads, dim, dtype):
    """Per-thread scratch for :func:`half_step` (allocated once per half-step)."""
    return (
        np.empty((n_threads, BLOCK, dim), dtype=dtype),  # gathered factor rows
        np.empty((n_threads, BLOCK), dtype=dtype),  # their targets
        np.empty((n_threads, dim + 1, dim + 1), dtype=dtype),  # normal matrix
        np.empty((n_threads, dim + 1, dim + 1), dtype=dtype),  # factor / NNLS sub-matrix
        np.empty((n_threads, dim + 1, dim + 1), dtype=dtype),  # NNLS work
        np.empty((n_threads, 3, dim + 1), dtype=dtype),  # rhs, solution, NNLS z
        np.empty((n_threads, dim + 1), dtype=np.int64),  # NNLS index list
        np.empty((n_threads, dim + 1), dtype=np.bool_),  # NNLS passive set
    )


@njit(**INNER)
def _gather(indices, data, first, size, other, other_bias, shift, use_bias, block, targets):
    """Rows ``[y_j, 1]`` (or ``y_j``) of entries ``first:first+size`` and their targets."""
    k = other.shape[1]
    for p in range(size):
        col = indices[first + p]
        y = data[first + p] - shift
        gathered = block[p]
        if use_bias:
            y -= other_bias[col]
            gathered[k] = 1.0
        targets[p] = y
        source = other[col]
        for a in range(k):
            gathered[a] = source[a]


@njit(**OUTER)
def half_step(indptr, indices, data, other, other_bias, shift, target, target_bias,
              reg, reg_exponent, use_bias, nonnegative, scratch):
    """Recompute every row of ``target`` (and ``target_bias``) in place.

    Parameters are plain arrays: ``indptr``/``indices``/``data`` a compressed
    matrix whose rows are the rows of ``target``; ``other`` the fixed factors,
    ``other_bias`` their biases (read only when ``use_bias``). Row i is
    regularised with ``reg * n_i ** reg_exponent``; a row without entries becomes
    zero. Returns the number of rows whose system was singular and got a ridge.

    A row with fewer ratings n than unknowns d (and λ > 0, no sign constraint) is
    solved in its dual form ``x = Bᵀ (BBᵀ + λI)⁻¹ y``: an n × n system instead of
    d × d (the same solution, by the push-through identity), which spares the short
    rows of power-law data most of their Gram and Cholesky work.
    """
    n_rows = target.shape[0]
    k = other.shape[1]
    dim = k + 1 if use_bias else k
    block_s, targets_s, gram_s, sub_s, work_s, vec_s, idx_s, passive_s = scratch
    jittered = np.zeros(n_rows, dtype=np.int8)
    for row in prange(n_rows):
        tid = numba.get_thread_id()
        block = block_s[tid]
        targets = targets_s[tid]
        gram = gram_s[tid]
        x = vec_s[tid, 0]
        start = indptr[row]
        end = indptr[row + 1]
        n = end - start
        if n == 0:
            target[row, :] = 0.0
            if use_bias:
                target_bias[row] = 0.0
            continue
        lam = reg * n ** reg_exponent
        if n < dim and n <= BLOCK and lam > 0.0 and not nonnegative:
            _gather(indices, data, start, n, other, other_bias, shift, use_bias, block, targets)
            z = vec_s[tid, 1]
            set_row_products(block, n, dim, gram)
            for p in range(n):
                gram[p, p] += lam
                z[p] = targets[p]
            jittered[row] = spd_solve(gram, n, z, sub_s[tid])
            for a in range(dim):
                x[a] = 0.0
            for p in range(n):
                zp = z[p]
                bp = block[p]
                for a in range(dim):
                    x[a] += zp * bp[a]
        else:
            for a in range(dim):  # the lower triangle: the only part the solve reads
                x[a] = 0.0
                for b in range(a + 1):
                    gram[a, b] = 0.0
            for first in range(start, end, BLOCK):
                size = min(BLOCK, end - first)
                _gather(indices, data, first, size, other, other_bias, shift, use_bias, block,
                        targets)
                for p in range(size):
                    yp = targets[p]
                    bp = block[p]
                    for a in range(dim):
                        x[a] += yp * bp[a]
                add_lower_product(block, block, size, dim, gram)
            for a in range(dim):
                gram[a, a] += lam
            if nonnegative:
                rhs = x
                x = vec_s[tid, 1]
                jittered[row] = nnls(gram, rhs, dim, k, x, passive_s[tid], vec_s[tid, 2],
                                     sub_s[tid], work_s[tid], idx_s[tid])
            else:
                jittered[row] = spd_solve(gram, dim, x, sub_s[tid])
        for a in range(k):
            target[row, a] = x[a]
        if use_bias:
            target_bias[row] = x[k]
    return np.count_nonzero(jittered)
