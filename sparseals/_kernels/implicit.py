"""The implicit-feedback ALS half-step (Hu, Koren & Volinsky 2008), exact or by CG.

Row i solves ``(G + Σ_(j∈Ω_i) (c_ij − α₀) y_j y_jᵀ + λ_i I) x_i = Σ_(j∈Ω_i) c_ij p_ij y_j``
where ``G = α₀ YᵀY`` is shared by every row, the confidence is ``c_ij = |c0 + c1 · r_ij|``
(``c0 = 1, c1 = α`` for the linear confidence of Hu et al., ``c0 = 0, c1 = α`` for the
stored value itself, as `implicit` does) and the preference ``p_ij = 1 if r_ij > 0 else 0``.

One kernel per solver, :func:`exact_half_step` and :func:`cg_half_step`, so that a fit
compiles only its own. Both work in the eigenvector basis of G, where G is diagonal: the
caller (``solvers._implicit_step``) rotates both sides' factors by G's eigenvectors before
the half-step and the result back after it, two BLAS products per half-step. An orthogonal
change of basis leaves the solution (and every CG iterate) unchanged up to rounding.

Each row's other-side factor rows are gathered into a contiguous per-thread block.
The exact solver adds the block's weighted Gram matrix to the system's lower triangle
(BLAS gemm of the weighted and the plain rows, ``blas.product_rows(K)`` rows a call) and
factors it (Cholesky), or, for a row with fewer ratings than factors and no negative
weight, solves the n × n dual system of the Woodbury identity, which a diagonal G makes
cheap (:func:`_dual_solve`). The conjugate-gradient solver
(Takács, Pilászy & Tikk 2011) reuses the gathered block for every matrix–vector
product, warm started from the row's current factors.
"""

import numba
import numpy as np
from numba import njit, prange

from ._options import INNER, OUTER, OUTER_ORDERED
from .blas import add_lower_product, product_rows, set_row_products
from .loss import _dot, implicit_score_loss, observed_implicit_loss
from .prefetch import prefetch_factor_row, worth_prefetching
from .solve import cg_step_length, spd_solve

GATHER_BYTES = 4 << 20
"""Per-thread budget of gathered factor rows (4 MiB: 16,384 rows at K = 64 in float32).
A CG row with at most that many ratings is gathered once and every CG step streams the
contiguous copy; a longer row is re-gathered block by block at each step. With power-law
data most ratings belong to a few popular rows, so a large budget keeps them out of the
scattered-read path that bounds CG."""


def gather_rows(k, dtype):
    """Rows of a gather block for K factors of ``dtype`` (at least 1024)."""
    return max(1024, GATHER_BYTES // (k * np.dtype(dtype).itemsize))


def allocate_scratch(n_threads, k, dtype, use_cg, longest=None):
    """Per-thread scratch for :func:`cg_half_step` (``use_cg``) or :func:`exact_half_step`
    (allocated once per half-step). ``longest``, the longest row to solve if known,
    caps the gather block: a fold-in of a few ratings needs no 4 MiB per thread. Every
    row that fits the full block fits the capped one, so the results are the same."""
    gather = gather_rows(k, dtype)
    if longest is not None:
        gather = max(1, min(gather, longest))
    rows = np.empty((n_threads, gather, k), dtype=dtype)  # gathered factor rows
    # weights c − α₀, CG targets c·p, and for the CG the ratings' scores y·x and y·p
    weights = np.empty((n_threads, 4 if use_cg else 2, gather), dtype=dtype)
    if use_cg:
        return rows, weights, np.empty((n_threads, 3, k), dtype=dtype)  # residual, p, A·p
    return (
        rows,
        np.empty((n_threads, gather, k), dtype=dtype),  # rows weighted by w
        weights,
        np.empty((n_threads, 2, k, k), dtype=dtype),  # system, Cholesky work
        np.empty((n_threads, 4, k), dtype=dtype),  # rhs / solution, dual-solve vectors
    )


@njit(**INNER)
def _gather(indices, data, first, size, other, c0, c1, alpha0, rows, weights, targets, rhs,
            scaled, exact):
    """Copy the factor rows y of entries ``first:first+size`` into ``rows[:size]`` and
    their weights ``w = c − α₀`` into ``weights``.

    For the CG solver, write each ``c·p`` into ``targets``. For the ``exact`` solver, add
    ``Σ c·p·y`` to ``rhs``, write each ``w y`` into ``scaled`` (``Σ w y yᵀ`` is then the
    product of ``scaled`` and ``rows``) and return how many weights are negative. The
    arrays a solver does not use are not touched.
    """
    k = other.shape[1]
    n_negative = 0
    hinted = exact or worth_prefetching(other)  # the exact solver's gather: always
    for q in range(size):
        if hinted:
            prefetch_factor_row(other, indices, first + q, first + size)
        y = data[first + q]
        c = abs(c0 + c1 * y)
        w = c - alpha0
        weights[q] = w
        src = other[indices[first + q]]
        dst = rows[q]
        for a in range(k):
            dst[a] = src[a]
        if not exact:
            targets[q] = c if y > 0 else 0.0
            continue
        sdst = scaled[q]
        for a in range(k):
            sdst[a] = w * src[a]
        if w < 0.0:
            n_negative += 1
        if y > 0:
            for a in range(k):
                rhs[a] += c * src[a]
    return n_negative


@njit(**INNER)
def _add_sparse_product(rows, weights, targets, residual, size, x, out, dots):
    """``out += Σ_q weights[q] (rows[q]·x) rows[q]``, or with ``residual``
    ``out += Σ_q (targets[q] − weights[q] (rows[q]·x)) rows[q]``: the right-hand side
    ``Σ c·p·y`` minus the sparse part of ``A x`` in the same pass over the rows.
    Each ``rows[q]·x`` is also written to ``dots[q]`` unless ``dots`` is empty.

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
        if dots.shape[0] > 0:
            dots[q] = d0
            dots[q + 1] = d1
            dots[q + 2] = d2
            dots[q + 3] = d3
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
        d = _dot(g, x, k)
        if dots.shape[0] > 0:
            dots[q] = d
        d *= weights[q]
        if residual:
            d = targets[q] - d
        for a in range(k):
            out[a] += d * g[a]
        q += 1


@njit(**INNER)
def _dual_solve(rows, weights, values, c0, c1, n, gram_diagonal, lam, x, f, s_mat, work, vecs):
    """Solve ``(D + Fᵀ F) x = Σ c·p·y`` into ``x`` for diagonal ``D = diag(gram_diagonal)
    + λ I`` (λ > 0), ``F`` the ``n < K`` rows ``√w_q rows[q]`` (``weights ≥ 0``), and the
    row's values v giving ``c = |c0 + c1 v|``, ``p = [v > 0]``.

    The right-hand side is ``Fᵀ s`` with ``s_q = c_q p_q / √w_q``, plus ``r₀ = Σ c p y``
    over the entries of zero weight. By the push-through identity
    ``(D + FᵀF)⁻¹ Fᵀ = D⁻¹ Fᵀ (I + F D⁻¹ Fᵀ)⁻¹``, ``x = D^-½ (z₀ + F̃ᵀ m)`` with
    ``F̃ = F D^-½``, ``z₀ = D^-½ r₀`` and ``(I + F̃ F̃ᵀ) m = s − F̃ z₀``: an n × n system,
    ``O(n² K)`` instead of ``O(n K² + K³)``, every eigenvalue ≥ 1, and no large terms
    that cancel. (The Woodbury form ``D^-½ (z − F̃ᵀ (I + F̃ F̃ᵀ)⁻¹ F̃ z)``, ``z = D^-½ Σ c p y``,
    subtracted two terms of size c: confidences 1e5 above λ lost every float32 digit.)

    Writes ``F̃`` into ``f[:n]``; ``s_mat`` and ``work`` are K × K scratch, ``vecs`` has
    rows 1-3 of K free. Returns the status of :func:`spd_solve`.
    """
    k = f.shape[1]
    scale = vecs[1]
    z0 = vecs[2]
    m = vecs[3]
    for a in range(k):
        scale[a] = 1.0 / np.sqrt(gram_diagonal[a] + lam)
        z0[a] = 0.0
    for q in range(n):
        target = abs(c0 + c1 * values[q]) if values[q] > 0 else 0.0
        m[q] = 0.0
        if weights[q] > 0.0:
            m[q] = target / np.sqrt(weights[q])
        elif target != 0.0:
            source = rows[q]
            for a in range(k):
                z0[a] += target * source[a]
    for a in range(k):
        z0[a] *= scale[a]
    for q in range(n):
        row = f[q]
        source = rows[q]
        s = np.sqrt(weights[q])
        for a in range(k):
            row[a] = s * source[a] * scale[a]
        m[q] -= _dot(row, z0, k)
    set_row_products(f, n, k, s_mat)
    for q in range(n):
        s_mat[q, q] += 1.0
    status = spd_solve(s_mat, n, m, work)
    for a in range(k):
        x[a] = z0[a]
    for q in range(n):
        mq = m[q]
        row = f[q]
        for a in range(k):
            x[a] += mq * row[a]
    for a in range(k):
        x[a] *= scale[a]
    return status


@njit(**INNER)
def _exact_row(indices, data, start, end, other, c0, c1, alpha0, gram_diagonal, lam, rows,
               scaled, weights, mats, vecs):
    """Solve the row's system ``(G + λ I + Σ (c − α₀) y yᵀ) x = Σ c·p·y`` over its entries
    ``start:end`` into ``vecs[0]``, G diagonal; ``rows`` holds the gathered factor rows
    afterwards if they fit. Returns the status of the solve (:mod:`.solve`)."""
    k = other.shape[1]
    n = end - start
    gather = rows.shape[0]
    a_mat = mats[0]
    rhs = vecs[0]
    for a in range(k):
        rhs[a] = 0.0
    for first in range(start, end, gather):
        size = min(gather, end - first)
        n_negative = _gather(indices, data, first, size, other, c0, c1, alpha0, rows,
                             weights[0], weights[1], rhs, scaled, True)
        if first == start:
            if size == n and n_negative == 0 and n < k and lam > 0.0:
                return _dual_solve(rows, weights[0], data[start:end], c0, c1, n, gram_diagonal,
                                   lam, rhs, scaled, a_mat, mats[1], vecs)
            for a in range(k):  # the lower triangle: the only part the solve reads
                for b in range(a):
                    a_mat[a, b] = 0.0
                a_mat[a, a] = gram_diagonal[a] + lam
        chunk = product_rows(k)
        for q in range(0, size, chunk):
            add_lower_product(scaled[q:], rows[q:], min(chunk, size - q), k, a_mat)
    return spd_solve(a_mat, k, rhs, mats[1])


@njit(**INNER)
def _system_product(indices, data, start, end, other, c0, c1, alpha0, gram_diagonal, lam, rows,
                    weights, targets, gathered, residual, x, out, dots):
    """``out = A x`` for ``A = G + λ I + Σ (c − α₀) y yᵀ`` over the row's entries
    ``start:end``, G diagonal; with ``residual``, ``out = b − A x`` for ``b = Σ c·p·y``.

    With ``gathered`` the entries are already in ``rows``/``weights``/``targets``;
    otherwise they are gathered block by block (the last block stays there).
    ``dots`` (empty, or as long as the row when it fits one block) receives each y·x.
    """
    for a in range(x.shape[0]):
        out[a] = (gram_diagonal[a] + lam) * x[a]
        if residual:
            out[a] = -out[a]
    if gathered:
        _add_sparse_product(rows, weights, targets, residual, end - start, x, out, dots)
        return
    gather = rows.shape[0]
    for first in range(start, end, gather):
        size = min(gather, end - first)
        _gather(indices, data, first, size, other, c0, c1, alpha0, rows, weights, targets,
                targets, rows, False)
        _add_sparse_product(rows, weights, targets, residual, size, x, out, dots)


@njit(**OUTER)
def exact_half_step(indptr, indices, data, other, gram_diagonal, target, reg, reg_exponent, c0,
                    c1, alpha0, n_other, scratch, row_losses, singular):
    """Recompute every row of ``target`` in place, solving its system exactly.

    ``indptr``/``indices``/``data``: a compressed matrix whose rows are the rows
    of ``target``; ``other``: the fixed factors; ``gram_diagonal``: the diagonal of
    ``G = α₀ · otherᵀ other``, which must be diagonal (``other`` and ``target`` in G's
    eigenvector basis). Scalars ``reg``, ``c0``, ``c1``, ``alpha0`` have the
    factors' dtype. Row i is regularised with ``reg · (n_i + α₀ · n_other) ** reg_exponent``,
    ``n_other`` the rows of the whole other side (``-1`` for ``len(other)``; a blocked fit
    passes only the rows a block references, with the whole side's G and ``n_other``);
    a row without entries becomes zero (its minimiser). ``scratch`` comes from
    :func:`allocate_scratch`. ``singular[i]`` is set when row i's system was singular
    and got a ridge.

    When ``row_losses`` is not empty, ``row_losses[i]`` gets row i's observed part
    of the loss (:func:`observed_implicit_loss`) at its new factors, from the rows
    already gathered: the item half-step fills it for the whole fit's loss almost
    for free.
    """
    m_other = other.shape[0] if n_other < 0 else n_other
    rows_s, scaled_s, weights_s, mats_s, vecs_s = scratch
    for row in prange(target.shape[0]):
        tid = numba.get_thread_id()
        start = np.int64(indptr[row])  # one integer type for every callee's signature
        end = np.int64(indptr[row + 1])
        n = end - start
        x = target[row]
        if n == 0:
            x[:] = 0.0
        else:
            lam = reg * (n + alpha0 * m_other) ** reg_exponent
            singular[row] = _exact_row(indices, data, start, end, other, c0, c1, alpha0,
                                       gram_diagonal, lam, rows_s[tid], scaled_s[tid],
                                       weights_s[tid], mats_s[tid], vecs_s[tid])
            x[:] = vecs_s[tid, 0]
        if row_losses.shape[0] > 0:
            row_losses[row] = observed_implicit_loss(indices, data, start, end, other, x, c0, c1,
                                                     alpha0, rows_s[tid],
                                                     n <= rows_s.shape[1])


@njit(**OUTER_ORDERED)  # the same rounding compiled or cached (_options)
def cg_half_step(indptr, indices, data, other, gram_diagonal, target, reg, reg_exponent, c0, c1,
                 alpha0, n_other, cg_steps, scratch, row_losses, defer_long):
    """Take ``cg_steps`` conjugate-gradient steps (Takács, Pilászy & Tikk 2011) on every
    row's system, in place, started from the row's current value in ``target``.

    Arguments as for :func:`exact_half_step`. With ``defer_long``, rows longer than a
    gather block are left untouched for :func:`.long_rows.long_rows_cg`. A gathered row's
    loss (``row_losses``) comes from its ratings' scores ``y·x``, kept up to date through
    the CG steps (``y·x₀`` from the residual's product, plus ``step · y·p`` from each
    step's), instead of another pass over its rows (CG item half-step 0.98–0.99× at K = 64,
    0.98× at K = 128 on the ml20m shape).
    """
    k = other.shape[1]
    m_other = other.shape[0] if n_other < 0 else n_other
    rows_s, weights_s, vecs_s = scratch
    gather = rows_s.shape[1]
    eps = np.finfo(target.dtype).eps
    largest_gram = gram_diagonal.max()
    for row in prange(target.shape[0]):
        tid = numba.get_thread_id()
        start = np.int64(indptr[row])
        end = np.int64(indptr[row + 1])
        n = end - start
        if defer_long and n > gather:
            continue
        track = row_losses.shape[0] > 0 and n <= gather
        # each rating's score y·x, kept up to date from the products' y·p, gives the
        # row's loss without another pass over its rows
        scores = weights_s[tid, 2:4, :n if track else 0]
        x = target[row]
        if n == 0:
            x[:] = 0.0
        else:
            lam = reg * (n + alpha0 * m_other) ** reg_exponent
            rows = rows_s[tid]
            weights = weights_s[tid, 0]
            targets = weights_s[tid, 1]
            r = vecs_s[tid, 0]
            p = vecs_s[tid, 1]
            ap = vecs_s[tid, 2]
            # r = b − A x; this first product gathers a row that fits in one block, and
            # the later ones reuse it
            _system_product(indices, data, start, end, other, c0, c1, alpha0, gram_diagonal,
                            lam, rows, weights, targets, False, True, x, r, scores[0])
            for a in range(k):
                p[a] = r[a]
            rs = _dot(r, r, k)
            tol = rs * eps * eps
            for step in range(cg_steps):
                if not rs > tol:
                    break
                _system_product(indices, data, start, end, other, c0, c1, alpha0, gram_diagonal,
                                lam, rows, weights, targets, n <= gather, False, p, ap,
                                scores[1])
                step_size = cg_step_length(rs, p, ap, k, largest_gram + lam)
                if step_size == 0.0:
                    break
                for a in range(k):
                    x[a] += step_size * p[a]
                    r[a] -= step_size * ap[a]
                for q in range(scores.shape[1]):
                    scores[0, q] += step_size * scores[1, q]
                rs_new = _dot(r, r, k)
                beta = rs_new / rs
                for a in range(k):
                    p[a] = r[a] + beta * p[a]
                rs = rs_new
        if track:
            total = 0.0
            for q in range(n):
                total += implicit_score_loss(np.float64(scores[0, q]), data[start + q], c0, c1,
                                             alpha0)
            row_losses[row] = total
        elif row_losses.shape[0] > 0:
            row_losses[row] = observed_implicit_loss(indices, data, start, end, other, x, c0, c1,
                                                     alpha0, rows_s[tid], n <= gather)
