"""The explicit-ALS half-step: one independent regularised least-squares solve per row.

Called twice per iteration: users from (CSR, item factors), items from (CSC, user
factors). With biases, the row's unknowns are ``[x_i, b_i]`` and each observed
entry contributes the design vector ``[y_j, 1]`` with target
``r_ij − shift − c_j`` (``c_j`` the other side's bias, ``shift`` the global mean);
this is the augmented-vector formulation of DESIGN §1 without storing the
constant columns.
"""

import math

import numba
import numpy as np
from numba import njit, prange

from ._options import INNER, OUTER
from .blas import add_lower_product, product_rows, set_row_products
from .loss import _dot
from .solve import nnls, spd_solve


BLOCK = 128
"""Rows of gathered ratings per thread at least. A row's factor rows are copied into
one contiguous array, ``product_rows(dim)`` at a time (:mod:`.blas`), whose Gram matrix
(lower triangle) is added by BLAS instead of one rank-1 update per rating; a row of at
most ``BLOCK`` ratings, fewer than its unknowns, is solved in its dual form."""


def allocate_scratch(n_threads, dim, dtype, nonnegative, gather=BLOCK):
    """Per-thread scratch for :func:`half_step` (allocated once per half-step): the
    arrays every solve uses, and those of the NNLS solve (``None`` without ``nonnegative``).

    ``gather`` (≥ ``BLOCK``) rows of gathered factor rows per thread: a row with at most
    that many ratings keeps all of them gathered, so that its residuals can be taken
    after the solve (``row_losses``); one block is enough otherwise.
    """
    common = (
        np.empty((n_threads, max(gather, BLOCK), dim), dtype=dtype),  # gathered factor rows
        np.empty((n_threads, max(gather, BLOCK)), dtype=dtype),  # their targets
        np.empty((n_threads, dim + 1, dim + 1), dtype=dtype),  # normal matrix
        np.empty((n_threads, dim + 1, dim + 1), dtype=dtype),  # factor / NNLS sub-matrix
        np.empty((n_threads, 2, dim + 1), dtype=dtype),  # rhs / solution, dual solution
    )
    if not nonnegative:
        return common, None
    return common, (
        np.empty((n_threads, dim + 1, dim + 1), dtype=dtype),  # NNLS work
        np.empty((n_threads, 2, dim + 1), dtype=dtype),  # NNLS solution, z
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


@njit(**INNER)
def _normal_equations(indices, data, start, end, other, other_bias, shift, use_bias, lam, dim,
                      block, targets, gram, rhs):
    """The lower triangle of ``Σ b bᵀ + λ I`` into ``gram`` and ``Σ t b`` into ``rhs``
    over the entries ``start:end`` (design rows ``b``, targets ``t``), a block at a time.
    A row that fits in ``block`` is left there whole, its targets in ``targets``."""
    for a in range(dim):  # the lower triangle: the only part the solve reads
        rhs[a] = 0.0
        for b in range(a + 1):
            gram[a, b] = 0.0
    keep = end - start <= block.shape[0]
    chunk = product_rows(dim)
    for first in range(start, end, chunk):
        size = min(chunk, end - first)
        at = first - start if keep else 0
        rows = block[at:]
        row_targets = targets[at:]
        _gather(indices, data, first, size, other, other_bias, shift, use_bias, rows,
                row_targets)
        for p in range(size):
            tp = row_targets[p]
            bp = rows[p]
            for a in range(dim):
                rhs[a] += tp * bp[a]
        add_lower_product(rows, rows, size, dim, gram)
    for a in range(dim):
        gram[a, a] += lam


@njit(**INNER)
def bias_scale(factor_diagonal_sum, k, bias_diagonal):
    """The power of two σ that brings a normal matrix's bias entry ``bias_diagonal`` (n + λ
    over n ratings) nearest the mean of its ``k`` factor entries (their sum given), or 1
    when either is not positive.

    Solving for ``b / σ`` (the bias row and column times σ, its diagonal times σ², the
    right-hand side's bias entry times σ, the solution's times σ afterwards) is the same
    system, scaled exactly by a power of two, but :func:`.solve.cholesky` judges its pivots
    against the largest diagonal entry: with factors far from unit size (ratings of 10⁴, or
    of 10⁻⁴ against unit-sized initial factors) the bias entry, or the factors', looked like
    rounding, and every row was solved with a ridge that swamped it (float32 loss 30×
    the float64 one). The scaling is exact: a row that factors either way gets the same
    bits.
    """
    mean = factor_diagonal_sum / k
    if not (mean > 0.0 and bias_diagonal > 0.0):  # also NaN
        return 1.0
    exponent = math.floor(0.5 * math.log2(mean / bias_diagonal) + 0.5)
    return math.ldexp(1.0, int(min(max(exponent, -60.0), 60.0)))


@njit(**INNER)
def _balance_bias(gram, rhs, k):
    """Scale the bias row (lower triangle) and right-hand side entry of a row's normal
    equations by :func:`bias_scale`'s σ, in place; returns σ (multiply the solution's
    bias by it)."""
    total = 0.0
    for a in range(k):
        total += gram[a, a]
    scale = bias_scale(total, k, np.float64(gram[k, k]))
    if scale != 1.0:
        row = gram[k]
        for a in range(k):
            row[a] *= scale
        row[k] *= scale * scale
        rhs[k] *= scale
    return scale


UNBALANCED = -1
"""Status of :func:`_dual_solve` when it declined a row (nothing solved): take the primal."""
DUAL_SMALLEST_NORM = 2.0 ** -10
"""With biases, the dual form is taken while the row's mean ‖y_j‖² is at least this: each
entry ``y_p·y_q + 1`` of ``BBᵀ`` holds the factors' products beside the bias column's 1 in
the factors' dtype, and below it float32 keeps fewer than four of their digits (at
‖y‖² = 10⁻⁸, none: rows of ratings of 10⁻⁴ were solved as singular). The primal form,
its bias scaled (:func:`bias_scale`), keeps them. Large factor rows stay with the dual
form: there the primal matrix of a row shorter than its unknowns is singular to rounding
beside λ, and the 1 the dual entries lose weighs as little in the solution."""


@njit(**INNER)
def _dual_solve(indices, data, start, n, other, other_bias, shift, use_bias, lam, dim, block,
                targets, gram, work, x, z):
    """``x = Bᵀ (BBᵀ + λI)⁻¹ t`` for a row of ``n ≤ BLOCK`` entries: the primal solution
    (push-through identity) from an n × n system. Returns the status of :func:`spd_solve`,
    or ``UNBALANCED`` (with biases, factor rows too small for it: see
    ``DUAL_SMALLEST_NORM``)."""
    _gather(indices, data, start, n, other, other_bias, shift, use_bias, block, targets)
    set_row_products(block, n, dim, gram)
    if use_bias:
        total = 0.0
        for p in range(n):
            total += gram[p, p]
        mean_norm = total / n - 1.0  # Σ ‖y_p‖² / n: each diagonal entry is ‖y_p‖² + 1
        if not mean_norm >= DUAL_SMALLEST_NORM:
            return UNBALANCED
    for p in range(n):
        gram[p, p] += lam
        z[p] = targets[p]
    status = spd_solve(gram, n, z, work)
    for a in range(dim):
        x[a] = 0.0
    for p in range(n):
        zp = z[p]
        bp = block[p]
        for a in range(dim):
            x[a] += zp * bp[a]
    return status


@njit(**INNER)
def _squared_residuals(block, targets, n, x, dim):
    """``Σ_(p < n) (targets[p] − block[p]·x)²`` in float64 (each dot in the factors' dtype,
    as :func:`.loss.explicit_row_losses` takes it)."""
    total = 0.0
    for p in range(n):
        r = np.float64(targets[p]) - np.float64(_dot(block[p], x, dim))
        total += r * r
    return total


@njit(**OUTER)
def half_step(indptr, indices, data, other, other_bias, shift, target, target_bias, reg,
              reg_exponent, use_bias, scratch, nnls_scratch, singular, row_losses):
    """Recompute every row of ``target`` (and ``target_bias``) in place.

    Parameters are plain arrays: ``indptr``/``indices``/``data`` a compressed
    matrix whose rows are the rows of ``target``; ``other`` the fixed factors,
    ``other_bias`` their biases (read only when ``use_bias``). Row i is
    regularised with ``reg * n_i ** reg_exponent``; a row without entries becomes
    zero. ``scratch`` and ``nnls_scratch`` come from :func:`allocate_scratch`; with
    ``nnls_scratch`` the factors (not the bias) are constrained to be non-negative, and
    each row's factors on entry are its solver's starting point (zeros for a cold start;
    the solution is the same up to rounding when the row's system is definite).
    ``singular[i]`` is set when row i's system was singular and got a ridge. With
    biases, a primal or NNLS solve first brings the bias's entries to the factors' size
    by a power of two (:func:`bias_scale`).
    ``row_losses`` (float64, one per row, or empty for none) receives each row's sum of
    squared residuals at its new factors, for the rows whose ratings all fit in the
    scratch's gathered rows; a longer row gets NaN (its residuals are the caller's to add).

    A row with fewer ratings n than unknowns d (and λ > 0, no sign constraint) is
    solved in its dual form ``x = Bᵀ (BBᵀ + λI)⁻¹ y``: an n × n system instead of
    d × d (the same solution, by the push-through identity), which spares the short
    rows of power-law data most of their Gram and Cholesky work; with biases, only while
    the row's factor rows are not too small for it (``DUAL_SMALLEST_NORM``).
    """
    n_rows = target.shape[0]
    k = other.shape[1]
    dim = k + 1 if use_bias else k
    block_s, targets_s, gram_s, sub_s, vec_s = scratch
    for row in prange(n_rows):
        tid = numba.get_thread_id()
        start = np.int64(indptr[row])  # one integer type for every callee's signature
        end = np.int64(indptr[row + 1])
        n = end - start
        x = vec_s[tid, 0]
        if n == 0:
            for a in range(dim):
                x[a] = 0.0
        elif nnls_scratch is None:
            # numba prunes this test on a None argument before typing: a fit without the
            # sign constraint never compiles the NNLS solver (seconds of a first fit)
            lam = reg * n ** reg_exponent
            status = UNBALANCED
            if n < dim and n <= BLOCK and lam > 0.0:
                status = _dual_solve(indices, data, start, n, other, other_bias, shift,
                                     use_bias, lam, dim, block_s[tid], targets_s[tid],
                                     gram_s[tid], sub_s[tid], x, vec_s[tid, 1])
            if status == UNBALANCED:  # the primal form, or a dual form that declined
                _normal_equations(indices, data, start, end, other, other_bias, shift, use_bias,
                                  lam, dim, block_s[tid], targets_s[tid], gram_s[tid], x)
                scale = _balance_bias(gram_s[tid], x, k) if use_bias else 1.0
                status = spd_solve(gram_s[tid], dim, x, sub_s[tid])
                if use_bias:
                    x[k] *= scale
            singular[row] = status
        else:
            work_s, nnls_vec_s, idx_s, passive_s = nnls_scratch
            _normal_equations(indices, data, start, end, other, other_bias, shift, use_bias,
                              reg * n ** reg_exponent, dim, block_s[tid], targets_s[tid],
                              gram_s[tid], x)
            scale = _balance_bias(gram_s[tid], x, k) if use_bias else 1.0
            solution = nnls_vec_s[tid, 0]
            for a in range(k):  # the row's current factors: a warm start
                solution[a] = target[row, a]
            singular[row] = nnls(gram_s[tid], x, dim, k, solution, passive_s[tid],
                                 nnls_vec_s[tid, 1], sub_s[tid], work_s[tid], idx_s[tid])
            x = solution
            if use_bias:
                x[k] *= scale
        if row_losses.shape[0] > 0:
            # the row's design rows and targets are still gathered (the dual solve's too)
            row_losses[row] = (_squared_residuals(block_s[tid], targets_s[tid], n, x, dim)
                               if n <= block_s.shape[1] else np.nan)
        for a in range(k):
            target[row, a] = x[a]
        if use_bias:
            target_bias[row] = x[k]
