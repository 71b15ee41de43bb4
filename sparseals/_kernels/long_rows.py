"""Conjugate-gradient steps for the rows too long to gather, all of them in lockstep.

With power-law data a few hundred popular items hold a third of the ratings. Such a
row does not fit a gather block, so the per-row CG of :mod:`.implicit` would re-read
its scattered factor rows from memory at every CG step (those rows were measured at
half of the item half-step's time for 30 % of its ratings). Here the long rows take
their CG steps together: each product ``Σ_j w_ij (y_j·p_i) y_j`` for all of them is one
pass over their entries in the order of the *transposed* matrix, which reads every
factor row ``y_j`` once, in order, while the long rows' small vectors stay in cache.

The long rows and their entries in that order are listed once per fit
(:func:`plan_long_rows`): a pass then streams compact arrays of slots and values.
Following positions into the transposed matrix instead cost 35 % more per pass (and
listing them at every half-step 0.05 s; ml20m shape, K = 64).

Each pass is split into a fixed number of ranges of the transposed matrix's rows
(``CHUNKS``, whatever the number of threads), each summing into its own buffer, and the
buffers are added in order: the results do not depend on the thread count.
"""

from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange

from ._options import OUTER_ORDERED
from .loss import _dot, implicit_cell_loss
from .solve import cg_step_length

CHUNKS = 16
"""Ranges a pass is split into (the parallelism available to it)."""
CHUNK_BYTES = 64 << 20
"""Budget of the ranges' partial sums; fewer ranges when the long rows are many."""
ENTRY_BLOCK = 1 << 20
"""Entries of the transposed matrix scanned at a time by :func:`plan_long_rows`."""
INT16_SLOTS = np.iinfo(np.int16).max + 1
"""Long rows below which a plan numbers them in int16 (2 bytes per entry instead of 4)."""


class LongRows(NamedTuple):
    """The rows longer than ``threshold`` entries and their entries, transposed.

    ``rows``: their indices (increasing) among the ``n_rows`` rows; ``lengths``: their
    entry counts. The long rows' entries in row ``j`` of the transposed matrix are
    ``slots[ptr[j]:ptr[j + 1]]`` (position of the long row in ``rows``) with the
    values ``values[ptr[j]:ptr[j + 1]]``.
    """

    threshold: int
    n_rows: int
    rows: np.ndarray
    lengths: np.ndarray
    ptr: np.ndarray
    slots: np.ndarray
    values: np.ndarray


def plan_long_rows(rows, transposed, threshold):
    """The :class:`LongRows` of ``rows`` longer than ``threshold`` entries, or None.

    ``transposed`` holds the same entries with one row per column of ``rows``. Its
    entries are scanned ``ENTRY_BLOCK`` at a time, so that no temporary spans the
    whole matrix; the plan holds a slot (int16 for fewer than ``INT16_SLOTS`` long rows,
    else int32) and a value per long entry.
    """
    lengths = np.diff(rows.indptr)
    long_rows = np.flatnonzero(lengths > threshold)
    if not len(long_rows):
        return None
    slot_dtype = np.int16 if len(long_rows) < INT16_SLOTS else np.int32
    slot_of = np.full(len(lengths), -1, dtype=slot_dtype)
    slot_of[long_rows] = np.arange(len(long_rows))
    count = int(lengths[long_rows].sum())
    indptr, indices, data = transposed.indptr, transposed.indices, transposed.data
    nnz = len(indices)
    ptr = np.empty(len(indptr), dtype=np.int64)
    slots = np.empty(count, dtype=slot_dtype)
    values = np.empty(count, dtype=data.dtype)
    filled = 0
    for start in range(0, nnz, ENTRY_BLOCK):
        stop = min(start + ENTRY_BLOCK, nnz)
        block_slots = slot_of[indices[start:stop]]
        found = np.flatnonzero(block_slots >= 0)
        # the transposed rows that start inside this block
        first, last = np.searchsorted(indptr, [start, stop])
        ptr[first:last] = filled + np.searchsorted(found, indptr[first:last] - start)
        if filled + len(found) > count:
            filled += len(found)
            break
        slots[filled:filled + len(found)] = block_slots[found]
        values[filled:filled + len(found)] = data[start:stop][found]
        filled += len(found)
    ptr[np.searchsorted(indptr, nnz):] = filled
    if filled != count:  # the passes would read entries that are not there
        found = "more" if filled > count else filled
        raise ValueError(f"the transposed matrix does not hold the rows' entries: {found} in "
                         f"the long rows, which have {count}")
    return LongRows(int(threshold), len(lengths), long_rows, lengths[long_rows], ptr, slots,
                    values)


@njit(**OUTER_ORDERED)
def _product_pass(ptr, slots, values, other, active, vectors, out, rhs, losses, c0, c1, alpha0,
                  mode):
    """One pass over the long rows' entries for every active long row ``s``:

    - mode 0: ``out[c, s] = Σ w (y·v) y`` and ``rhs[c, s] = Σ c·p·y`` (``w = c − α₀``);
    - mode 1: ``out[c, s] = Σ w (y·v) y``;
    - mode 2: ``losses[c, s] = Σ [c (p − y·v)² − α₀ (y·v)²]`` (the loss's observed part),

    with ``v = vectors[s]``, summed over the entries ``(j, s)`` (arrays of a
    :class:`LongRows`) whose ``j`` lies in the c-th of ``len(out)`` equal ranges of
    ``j`` (the caller adds the ranges up).
    """
    k = other.shape[1]
    n_cross = ptr.shape[0] - 1
    chunks = out.shape[0]
    for chunk in prange(chunks):
        out_c = out[chunk]
        for j in range(chunk * n_cross // chunks, (chunk + 1) * n_cross // chunks):
            y = other[j]
            for e in range(ptr[j], ptr[j + 1]):
                s = slots[e]
                if not active[s]:
                    continue
                r = values[e]
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


@njit(**OUTER_ORDERED)
def _add_up(partial, out):
    """``out = Σ_c partial[c]``, the ranges in order."""
    for s in prange(out.shape[0]):
        out[s] = partial[0, s]
        for c in range(1, partial.shape[0]):
            out[s] += partial[c, s]


@njit(**OUTER_ORDERED)
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


@njit(**OUTER_ORDERED)
def _cg_update(gram_diagonal, lam, active, x, r, p, ap, rs):
    """Finish ``ap = A p`` and take the CG step of every active row."""
    k = x.shape[1]
    largest_gram = gram_diagonal.max()
    for s in prange(x.shape[0]):
        if not active[s]:
            continue
        for a in range(k):
            ap[s, a] += (gram_diagonal[a] + lam[s]) * p[s, a]
        step_size = cg_step_length(rs[s], p[s], ap[s], k, largest_gram + lam[s])
        if step_size == 0.0:
            active[s] = False
            continue
        for a in range(k):
            x[s, a] += step_size * p[s, a]
            r[s, a] -= step_size * ap[s, a]
        rs_new = _dot(r[s], r[s], k)
        beta = rs_new / rs[s]
        for a in range(k):
            p[s, a] = r[s, a] + beta * p[s, a]
        rs[s] = rs_new


def long_rows_cg(plan, other, gram_diagonal, target, reg, reg_exponent, m_other, c0, c1, alpha0,
                 cg_steps, row_losses):
    """``cg_steps`` CG steps, warm started from ``target``, for each long row of ``plan``.

    The iteration :func:`.implicit.cg_half_step` takes for one row, for all of them at
    once: system ``(G + Σ (c − α₀) y yᵀ + λ_i I) x = Σ c·p·y``, ``λ_i = reg (n_i + α₀
    m_other)^ν``, ``n_i = plan.lengths[s]``, with G diagonal (``gram_diagonal``; ``other``
    and ``target`` in G's eigenvector basis, as there). ``plan``: the
    :class:`LongRows` of ``target``'s rows, with one transposed row per row of
    ``other``. Scalars have the factors' dtype. Fills ``row_losses`` for the long
    rows when it is not empty. Call inside ``kernel_threads``; the per-row work is
    O(m·K), the passes O(nnz·K).
    """
    long_rows, lengths = plan.rows, plan.lengths
    m, k = len(long_rows), other.shape[1]
    dtype = target.dtype
    chunks = int(max(1, min(CHUNKS, CHUNK_BYTES // (2 * m * k * dtype.itemsize))))
    x = np.ascontiguousarray(target[long_rows])
    r, ap, p = (np.empty((m, k), dtype=dtype) for _ in range(3))
    partial_ap, partial_b = (np.zeros((chunks, m, k), dtype=dtype) for _ in range(2))
    partial_losses = np.zeros((chunks, m))
    lam = (reg * (lengths + alpha0 * m_other) ** reg_exponent).astype(dtype)
    rs, tol = np.empty(m, dtype=dtype), np.empty(m, dtype=dtype)
    active = np.ones(m, dtype=np.bool_)
    matrix = (plan.ptr, plan.slots, plan.values, other)

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
