"""Conjugate-gradient steps for the rows too long to gather, all of them in lockstep.

With power-law data a few hundred popular items hold a third of the ratings. Such a
row does not fit a gather block, so the per-row CG of :mod:`.implicit` would re-read
its scattered factor rows from memory at every CG step (those rows were measured at
half of the item half-step's time for 30 % of its ratings). Here the long rows take
their CG steps together: each product ``Σ_j w_ij (y_j·p_i) y_j`` for all of them is one
pass over the *transposed* matrix, which reads every factor row ``y_j`` once, in order,
while the long rows' small vectors stay in cache.

The passes visit only the long rows' entries: their positions in the transposed
matrix are listed once per half-step (scanning all entries and skipping the others
cost 40 % of each pass).

Each pass is split into a fixed number of ranges of the transposed matrix's rows
(``CHUNKS``, whatever the number of threads), each summing into its own buffer, and the
buffers are added in order: the results do not depend on the thread count.
"""

import numba
import numpy as np
from numba import njit, prange

from ._options import OUTER
from .implicit import _dot
from .loss import implicit_cell_loss

CHUNKS = 16
"""Ranges a pass is split into (the parallelism available to it)."""
CHUNK_BYTES = 64 << 20
"""Budget of the ranges' partial sums; fewer ranges when the long rows are many."""


@njit(**OUTER)
def _product_pass(entry_ptr, entries, cross_indices, cross_data, other, slot_of, active, vectors,
                  out, rhs, losses, c0, c1, alpha0, mode):
    """One pass over the transposed matrix for every active long row ``s``:

    - mode 0: ``out[c, s] = Σ w (y·v) y`` and ``rhs[c, s] = Σ c·p·y`` (``w = c − α₀``);
    - mode 1: ``out[c, s] = Σ w (y·v) y``;
    - mode 2: ``losses[c, s] = Σ [c (p − y·v)² − α₀ (y·v)²]`` (the loss's observed part),

    with ``v = vectors[s]``, summed over the entries ``(j, row)`` of the transposed
    matrix whose row is long (``slot_of[row] = s ≥ 0``) and whose ``j`` lies in the
    c-th of ``len(out)`` equal ranges of ``j`` (the caller adds the ranges up). Those
    entries of ``j`` are at the positions ``entries[entry_ptr[j]:entry_ptr[j + 1]]``
    of ``cross_indices``/``cross_data``.
    """
    k = other.shape[1]
    n_cross = entry_ptr.shape[0] - 1
    chunks = out.shape[0]
    for chunk in prange(chunks):
        out_c = out[chunk]
        for j in range(chunk * n_cross // chunks, (chunk + 1) * n_cross // chunks):
            y = other[j]
            for e in range(entry_ptr[j], entry_ptr[j + 1]):
                position = entries[e]
                s = slot_of[cross_indices[position]]
                if not active[s]:
                    continue
                r = cross_data[position]
                if mode == 2:
                    losses[chunk, s] += implicit_cell_loss(y, vectors[s], r, c0, c1, alpha0)
                    continue
                c = abs(c0 + c1 * r)
                d = _dot(y, vectors[s], k) * (c - alpha0)
                o = out_c[s]
                for a in range(k):
                    o[a] += d * y[a]
                if mode == 0 and r > 0:
                    b = rhs[chunk, s]
                    for a in range(k):
                        b[a] += c * y[a]


@njit(**OUTER)
def _add_up(partial, out):
    """``out = Σ_c partial[c]``, the ranges in order."""
    for s in prange(out.shape[0]):
        out[s] = partial[0, s]
        for c in range(1, partial.shape[0]):
            out[s] += partial[c, s]


@njit(**OUTER)
def _residuals(gram_diagonal, lam, x, ap, r, p, rs, tol):
    """``r = b − A x`` (``r`` holds ``b``, ``ap`` the sparse part of ``A x``); ``p = r``."""
    k = x.shape[1]
    eps = np.finfo(x.dtype).eps
    for s in prange(x.shape[0]):
        for a in range(k):
            r[s, a] -= ap[s, a] + (gram_diagonal[a] + lam[s]) * x[s, a]
            p[s, a] = r[s, a]
        rs[s] = _dot(r[s], r[s], k)
        tol[s] = rs[s] * eps * eps


@njit(**OUTER)
def _cg_update(gram_diagonal, lam, active, x, r, p, ap, rs):
    """Finish ``ap = A p`` and take the CG step of every active row."""
    k = x.shape[1]
    for s in prange(x.shape[0]):
        if not active[s]:
            continue
        for a in range(k):
            ap[s, a] += (gram_diagonal[a] + lam[s]) * p[s, a]
        pap = _dot(p[s], ap[s], k)
        if not pap > 0.0:
            active[s] = False
            continue
        step_size = rs[s] / pap
        for a in range(k):
            x[s, a] += step_size * p[s, a]
            r[s, a] -= step_size * ap[s, a]
        rs_new = _dot(r[s], r[s], k)
        beta = rs_new / rs[s]
        for a in range(k):
            p[s, a] = r[s, a] + beta * p[s, a]
        rs[s] = rs_new


ENTRY_BLOCK = 1 << 20
"""Entries of the transposed matrix looked up at a time by :func:`_long_entries`."""


def _long_entries(transposed, is_long, count):
    """Positions (increasing) of the ``count`` entries of the transposed matrix that
    lie in a long row (``is_long``), in its index pointers' dtype; looked up by blocks
    of entries so that no temporary spans the whole matrix."""
    indices = transposed.indices
    entries = np.empty(count, dtype=transposed.indptr.dtype)
    filled = 0
    for start in range(0, len(indices), ENTRY_BLOCK):
        found = np.flatnonzero(is_long[indices[start:start + ENTRY_BLOCK]])
        found += start
        if filled + len(found) > count:
            filled += len(found)
            break
        entries[filled:filled + len(found)] = found
        filled += len(found)
    if filled != count:  # the passes would read entries that are not there
        found = "more" if filled > count else filled
        raise ValueError(f"the transposed matrix does not hold the rows' entries: {found} in "
                         f"the long rows, which have {count}")
    return entries


def long_rows_cg(long_rows, lengths, transposed, other, gram_diagonal, target, reg,
                 reg_exponent, m_other, c0, c1, alpha0, cg_steps, row_losses):
    """``cg_steps`` CG steps, warm started from ``target``, for each row in ``long_rows``.

    The iteration :func:`.implicit.cg_half_step` takes for one row, for all of them at
    once: system ``(G + Σ (c − α₀) y yᵀ + λ_i I) x = Σ c·p·y``, ``λ_i = reg (n_i + α₀
    m_other)^ν``, ``n_i = lengths[s]``, with G diagonal (``gram_diagonal``; ``other`` and
    ``target`` in G's eigenvector basis, as there). ``transposed``: the interactions
    with one row per row of ``other``. Scalars have the factors' dtype. Fills
    ``row_losses`` for the long rows when it is not empty. Call inside
    ``kernel_threads``; the per-row work is O(m·K), the passes O(nnz·K).
    """
    m, k = len(long_rows), other.shape[1]
    dtype = target.dtype
    chunks = int(max(1, min(CHUNKS, CHUNK_BYTES // (2 * m * k * dtype.itemsize))))
    slot_of = np.full(len(target), -1, dtype=np.int32)
    slot_of[long_rows] = np.arange(m)
    entries = _long_entries(transposed, slot_of >= 0, int(lengths.sum()))
    entry_ptr = np.searchsorted(entries, transposed.indptr)
    x = np.ascontiguousarray(target[long_rows])
    r, ap, p = (np.empty((m, k), dtype=dtype) for _ in range(3))
    partial_ap, partial_b = (np.zeros((chunks, m, k), dtype=dtype) for _ in range(2))
    partial_losses = np.zeros((chunks, m))
    lam = (reg * (lengths + alpha0 * m_other) ** reg_exponent).astype(dtype)
    rs, tol = np.empty(m, dtype=dtype), np.empty(m, dtype=dtype)
    active = np.ones(m, dtype=np.bool_)
    matrix = (entry_ptr, entries, transposed.indices, transposed.data, other, slot_of)

    def one_pass(vectors, mode):
        # one range at a time per thread (kernel_threads hands out rows in chunks of 32)
        with numba.parallel_chunksize(1):
            _product_pass(*matrix, active, vectors, partial_ap, partial_b, partial_losses, c0,
                          c1, alpha0, mode)

    def product(vectors, mode):
        partial_ap[:] = 0
        one_pass(vectors, mode)
        _add_up(partial_ap, ap)

    product(x, 0)
    _add_up(partial_b, r)  # b
    _residuals(gram_diagonal, lam, x, ap, r, p, rs, tol)
    for _ in range(cg_steps):
        active &= rs > tol
        if not active.any():
            break
        product(p, 1)
        _cg_update(gram_diagonal, lam, active, x, r, p, ap, rs)
    target[long_rows] = x
    if len(row_losses):
        active[:] = True
        one_pass(x, 2)
        row_losses[long_rows] = partial_losses.sum(axis=0)
