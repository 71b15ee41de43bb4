"""The implicit-feedback ALS half-step (Hu, Koren & Volinsky 2008), exact or by CG.

Row i solves ``(G + Σ_(j∈Ω_i) (c_ij − α₀) y_j y_jᵀ + λ_i I) x_i = Σ_(j∈Ω_i) c_ij p_ij y_j``
where ``G = α₀ YᵀY`` is shared by every row, the confidence is ``c_ij = |c0 + c1 · r_ij|``
(``c0 = 1, c1 = α`` for the linear confidence of Hu et al., ``c0 = 0, c1 = α`` for the
stored value itself, as `implicit` does) and the preference ``p_ij = 1 if r_ij > 0 else 0``.

The kernel works in the eigenvector basis of G, where G is diagonal: the caller
(``solvers._implicit_step``) rotates both sides' factors by G's eigenvectors before the
half-step and the result back after it, two BLAS products per half-step. An orthogonal
change of basis leaves the solution (and every CG iterate) unchanged up to rounding.

Each row's other-side factor rows are gathered into a contiguous per-thread block.
The exact solver adds the block's weighted Gram matrix to the system's lower triangle
(BLAS syrk) and factors it (Cholesky), or, for a row with fewer positive weights than
factors and none negative, solves the n × n dual system of the Woodbury identity,
which a diagonal G makes cheap (:func:`_dual_solve`). The conjugate-gradient solver
(Takács, Pilászy & Tikk 2011) reuses the gathered block for every matrix–vector
product, warm started from the row's current factors.
"""

import numba
import numpy as np
from numba import njit, prange

from ._options import INNER, OUTER
from .blas import add_lower_gram, set_row_products
from .loss import observed_implicit_loss
from .prefetch import prefetch_factor_row, worth_prefetching
from .solve import spd_solve

GATHER_BYTES = 4 << 20
"""Per-thread budget of gathered factor rows (4 MiB: 16,384 rows at K = 64 in float32).
A CG row with at most that many ratings is gathered once and every CG step streams the
contiguous copy; a longer row is re-gathered block by block at each step. With power-law
data most ratings belong to a few popular rows, so a large budget keeps them out of the
scattered-read path that bounds CG."""


def gather_rows(k, dtype):
    """Rows of a gather block for K factors of ``dtype`` (at least 1024)."""
    return max(1024, GATHER_BYTES // (k * np.dtype(dtype).itemsize))


def allocate_scratch(n_threads, k, dtype, use_cg):
    """Per-thread scratch for :func:`half_step` (allocated once per half-step)."""
    gather = gather_rows(k, dtype)
    return (
        np.empty((n_threads, gather, k), dtype=dtype),  # gathered factor rows
        np.empty((n_threads, 1 if use_cg else gather, k), dtype=dtype),  # rows scaled by √|w|
        np.empty((n_threads, 2, gather), dtype=dtype),  # weights c − α₀, targets c·p
        np.empty((n_threads, 2, k, k), dtype=dtype),  # system, Cholesky work
        np.empty((n_threads, 5, k), dtype=dtype),  # rhs / residual, x, p, A·p, spare
    )


@njit(**INNER)
def _gather(indices, data, first, size, other, c0, c1, alpha0, rows, weights, targets, rhs,
            with_rhs, scaled, with_scaled):
    """Copy the factor rows of entries ``first:first+size`` into ``rows[:size]`` and
    their weights ``w = c − α₀`` into ``weights``; add ``Σ c·p·y`` to ``rhs`` if asked
    (``with_rhs``), else write each ``c·p`` into ``targets``. With ``with_scaled``, also write
    ``√|w| y`` into ``scaled``: the rows with ``w > 0`` from the front, those with
    ``w < 0`` from the back, so that ``Σ w y yᵀ`` is two Gram matrices. Returns how many
    went to the front and the back.
    """
    k = other.shape[1]
    n_front = 0
    n_back = 0
    hinted = with_scaled or worth_prefetching(other)  # the exact solver's gather: always
    for q in range(size):
        if hinted:
            prefetch_factor_row(other, indices, first + q, first + size)
        y = data[first + q]
        c = abs(c0 + c1 * y)
        w = c - alpha0
        weights[q] = w
        if not with_rhs:  # for the CG residual pass (later products ignore them)
            targets[q] = c if y > 0 else 0.0
        src = other[indices[first + q]]
        dst = rows[q]
        for a in range(k):
            dst[a] = src[a]
        if with_scaled and w != 0.0:
            if w > 0.0:
                sdst = scaled[n_front]
                n_front += 1
            else:
                n_back += 1
                sdst = scaled[scaled.shape[0] - n_back]
            s = np.sqrt(abs(w))
            for a in range(k):
                sdst[a] = s * src[a]
        if with_rhs and y > 0:
            for a in range(k):
                rhs[a] += c * src[a]
    return n_front, n_back


@njit(**INNER)
def _dot(x, y, k):
    # the sum starts from a zero of the arrays' dtype (a literal 0.0 would make it float64)
    # and the loop from 0: a loop from 1 leaves K − 1 iterations, whose scalar remainder
    # after the vector body cost a third of the CG products' time at K = 128
    s = x.dtype.type(0)
    for a in range(k):
        s += x[a] * y[a]
    return s


@njit(**INNER)
def _add_sparse_product(rows, weights, targets, residual, size, x, out):
    """``out += Σ_q weights[q] (rows[q]·x) rows[q]``, or with ``residual``
    ``out += Σ_q (targets[q] − weights[q] (rows[q]·x)) rows[q]``: the right-hand side
    ``Σ c·p·y`` minus the sparse part of ``A x`` in the same pass over the rows.

    Four gathered rows at a time: their dot products share the loads of ``x`` and
    their updates share one pass over ``out`` (about twice as fast as one at a time).
    """
    k = x.shape[0]
    zero = x.dtype.type(0)  # as in _dot: a typed zero and loops over all K
    q = 0
    while q + 4 <= size:
        g0 = rows[q]
        g1 = rows[q + 1]
        g2 = rows[q + 2]
        g3 = rows[q + 3]
        d0 = zero
        d1 = zero
        d2 = zero
        d3 = zero
        for a in range(k):
            xa = x[a]
            d0 += g0[a] * xa
            d1 += g1[a] * xa
            d2 += g2[a] * xa
            d3 += g3[a] * xa
        d0 *= weights[q]
        d1 *= weights[q + 1]
        d2 *= weights[q + 2]
        d3 *= weights[q + 3]
        if residual:
            d0 = targets[q] - d0
            d1 = targets[q + 1] - d1
            d2 = targets[q + 2] - d2
            d3 = targets[q + 3] - d3
        for a in range(k):
            out[a] += d0 * g0[a] + d1 * g1[a] + d2 * g2[a] + d3 * g3[a]
        q += 4
    while q < size:
        g = rows[q]
        d = _dot(g, x, k) * weights[q]
        if residual:
            d = targets[q] - d
        for a in range(k):
            out[a] += d * g[a]
        q += 1


@njit(**INNER)
def _system_product(indices, data, start, end, other, c0, c1, alpha0, gram_diagonal, lam, rows,
                    weights, targets, whole, x, out, rhs, with_rhs):
    """``out = (G + λ I + Σ (c − α₀) y yᵀ) x`` over the row's entries ``start:end``, G diagonal.

    With ``whole`` the entries are already gathered in ``rows``/``weights``;
    otherwise they are gathered block by block (adding ``Σ c·p·y`` to ``rhs``
    when ``with_rhs``).
    """
    for a in range(x.shape[0]):
        out[a] = (gram_diagonal[a] + lam) * x[a]
    if whole:
        _add_sparse_product(rows, weights, targets, False, end - start, x, out)
        return
    gather = rows.shape[0]
    for first in range(start, end, gather):
        size = min(gather, end - first)
        _gather(indices, data, first, size, other, c0, c1, alpha0, rows, weights, targets, rhs,
                with_rhs, rows, False)
        _add_sparse_product(rows, weights, targets, False, size, x, out)


@njit(**INNER)
def _dual_solve(f, n, gram_diagonal, lam, rhs, s_mat, work, vecs):
    """Solve ``(D + Fᵀ F) x = rhs`` in place for diagonal ``D = diag(gram_diagonal) + λ I``
    (λ > 0) and ``F = f[:n]`` with ``n < K`` rows, by the Woodbury identity:
    ``x = D^-½ (z − F̃ᵀ (I + F̃ F̃ᵀ)⁻¹ F̃ z)`` with ``F̃ = F D^-½`` and ``z = D^-½ rhs``.

    An n × n system, ``O(n² K)``, instead of the K × K one, ``O(n K² + K³)``;
    ``I + F̃ F̃ᵀ`` has every eigenvalue ≥ 1. Overwrites ``f[:n]`` with ``F̃``; ``s_mat``
    and ``work`` are K × K scratch, ``vecs`` has rows 1-3 of K free. Returns the status
    of :func:`spd_solve`.
    """
    k = f.shape[1]
    scale = vecs[1]
    z = vecs[2]
    u = vecs[3]
    for a in range(k):
        scale[a] = 1.0 / np.sqrt(gram_diagonal[a] + lam)
        z[a] = scale[a] * rhs[a]
    for q in range(n):
        row = f[q]
        for a in range(k):
            row[a] *= scale[a]
        u[q] = _dot(row, z, k)
    set_row_products(f, n, k, s_mat)
    for q in range(n):
        s_mat[q, q] += 1.0
    status = spd_solve(s_mat, n, u, work)
    for a in range(k):
        rhs[a] = z[a]
    for q in range(n):
        uq = u[q]
        row = f[q]
        for a in range(k):
            rhs[a] -= uq * row[a]
    for a in range(k):
        rhs[a] *= scale[a]
    return status


@njit(**OUTER)
def half_step(indptr, indices, data, other, gram_diagonal, target, reg, reg_exponent, c0, c1,
              alpha0, use_cg, cg_steps, scratch, row_losses, defer_long, n_other=-1):
    """Recompute every row of ``target`` in place.

    ``indptr``/``indices``/``data``: a compressed matrix whose rows are the rows
    of ``target``; ``other``: the fixed factors; ``gram_diagonal``: the diagonal of
    ``G = α₀ · otherᵀ other``, which must be diagonal (``other`` and ``target`` in G's
    eigenvector basis). Scalars ``reg``, ``c0``, ``c1``, ``alpha0`` have the
    factors' dtype. Row i is regularised with ``reg · (n_i + α₀ · n_other) ** reg_exponent``,
    ``n_other`` the rows of the whole other side (default ``len(other)``; a blocked fit
    passes only the rows a block references, with the whole side's G and ``n_other``);
    a row without entries becomes zero (its minimiser). With ``use_cg``,
    ``cg_steps`` conjugate-gradient steps start from the current ``target`` row;
    otherwise each system is solved exactly. Returns the number of rows whose
    system was singular and got a ridge (exact solver only).

    When ``row_losses`` is not empty, ``row_losses[i]`` gets row i's observed part
    of the loss (:func:`observed_implicit_loss`) at its new factors, from the rows
    already gathered: the item half-step fills it for the whole fit's loss almost
    for free.
    With ``defer_long`` (CG only), rows longer than a gather block are left
    untouched for :func:`.long_rows.long_rows_cg`.
    """
    n_rows = target.shape[0]
    k = other.shape[1]
    m_other = other.shape[0] if n_other < 0 else n_other
    rows_s, scaled_s, weights_s, mats_s, vecs_s = scratch
    gather = rows_s.shape[1]
    eps = np.finfo(target.dtype).eps
    with_loss = row_losses.shape[0] > 0
    jittered = np.zeros(n_rows, dtype=np.int8)
    for row in prange(n_rows):
        tid = numba.get_thread_id()
        rows = rows_s[tid]
        weights = weights_s[tid, 0]
        targets = weights_s[tid, 1]
        a_mat = mats_s[tid, 0]
        rhs = vecs_s[tid, 0]
        start = indptr[row]
        end = indptr[row + 1]
        n = end - start
        if n == 0:
            target[row, :] = 0.0
            if with_loss:
                row_losses[row] = 0.0
            continue
        if defer_long and use_cg and n > gather:
            continue
        lam = reg * (n + alpha0 * m_other) ** reg_exponent
        for a in range(k):
            rhs[a] = 0.0
        if not use_cg:
            scaled = scaled_s[tid]
            dual = False
            for first in range(start, end, gather):
                size = min(gather, end - first)
                n_front, n_back = _gather(indices, data, first, size, other, c0, c1, alpha0,
                                          rows, weights, targets, rhs, True, scaled, True)
                if first == start:
                    dual = size == n and n_back == 0 and n_front < k and lam > 0.0
                    if dual:
                        break
                    for a in range(k):  # the lower triangle: the only part the solve reads
                        for b in range(a):
                            a_mat[a, b] = 0.0
                        a_mat[a, a] = gram_diagonal[a] + lam
                add_lower_gram(scaled, 0, n_front, k, 1.0, a_mat)
                add_lower_gram(scaled, scaled.shape[0] - n_back, n_back, k, -1.0, a_mat)
            if dual:
                jittered[row] = _dual_solve(scaled, n_front, gram_diagonal, lam, rhs, a_mat,
                                            mats_s[tid, 1], vecs_s[tid])
            else:
                jittered[row] = spd_solve(a_mat, k, rhs, mats_s[tid, 1])
            for a in range(k):
                target[row, a] = rhs[a]
            if with_loss:
                row_losses[row] = observed_implicit_loss(indices, data, start, end, other, rhs,
                                                         c0, c1, alpha0, rows, n <= gather)
            continue
        # conjugate gradient, warm started: r = b − A x
        x = vecs_s[tid, 1]
        p = vecs_s[tid, 2]
        ap = vecs_s[tid, 3]
        for a in range(k):
            x[a] = target[row, a]
        whole = n <= gather
        if whole:  # b − A x in one pass over the gathered rows
            _gather(indices, data, start, n, other, c0, c1, alpha0, rows, weights, targets, rhs,
                    False, rows, False)
            for a in range(k):
                rhs[a] = -(gram_diagonal[a] + lam) * x[a]
            _add_sparse_product(rows, weights, targets, True, n, x, rhs)
        else:  # b gathered block by block with the first product
            _system_product(indices, data, start, end, other, c0, c1, alpha0, gram_diagonal,
                            lam, rows, weights, targets, whole, x, ap, rhs, True)
            for a in range(k):
                rhs[a] -= ap[a]
        r = rhs  # the residual
        for a in range(k):
            p[a] = r[a]
        rs = _dot(r, r, k)
        tol = rs * eps * eps
        for step in range(cg_steps):
            if not rs > tol:
                break
            _system_product(indices, data, start, end, other, c0, c1, alpha0, gram_diagonal,
                            lam, rows, weights, targets, whole, p, ap, rhs, False)
            pap = _dot(p, ap, k)
            if not pap > 0.0:
                break
            step_size = rs / pap
            for a in range(k):
                x[a] += step_size * p[a]
                r[a] -= step_size * ap[a]
            rs_new = _dot(r, r, k)
            beta = rs_new / rs
            for a in range(k):
                p[a] = r[a] + beta * p[a]
            rs = rs_new
        for a in range(k):
            target[row, a] = x[a]
        if with_loss:
            row_losses[row] = observed_implicit_loss(indices, data, start, end, other, x, c0, c1,
                                                     alpha0, rows, whole)
    return np.count_nonzero(jittered)
