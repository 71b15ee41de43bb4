"""Top-n selection, excluding given items, parallel over rows.

:func:`score_top_n` scores and selects in one parallel pass: each thread runs a
single-threaded gemm on a cache-sized block of scores and feeds them to per-row
heaps of size n (a partial selection, never a full sort of all items).
Order: higher score first, ties by lower index.
"""

import numba
import numpy as np
from numba import njit, prange

from ._options import INNER, OUTER


@njit(**INNER)
def _worse(s1, i1, s2, i2):
    """True if (s1, i1) ranks below (s2, i2)."""
    return s1 < s2 or (s1 == s2 and i1 > i2)


@njit(**INNER)
def _sift_down(hs, hi, pos, size):
    # min-heap on rank: the root is the worst kept candidate
    while True:
        child = 2 * pos + 1
        if child >= size:
            return
        if child + 1 < size and _worse(hs[child + 1], hi[child + 1], hs[child], hi[child]):
            child += 1
        if _worse(hs[child], hi[child], hs[pos], hi[pos]):
            hs[pos], hs[child] = hs[child], hs[pos]
            hi[pos], hi[child] = hi[child], hi[pos]
            pos = child
        else:
            return


@njit(**INNER)
def _offer(hs, hi, size, n, s, lab):
    """Offer candidate (s, lab) to the heap of the ``size`` best so far; returns the new size."""
    if size < n:
        hs[size] = s
        hi[size] = lab
        size += 1
        if size == n:
            for pos in range(n // 2 - 1, -1, -1):
                _sift_down(hs, hi, pos, n)
    elif _worse(hs[0], hi[0], s, lab):
        hs[0] = s
        hi[0] = lab
        _sift_down(hs, hi, 0, n)
    return size


@njit(**INNER)
def _finish(hs, hi, size, n):
    """Sort the kept entries best-first and pad the rest with label −1, score −inf."""
    if size < n:
        for pos in range(size // 2 - 1, -1, -1):
            _sift_down(hs, hi, pos, size)
    # pop the worst to the back: the kept entries end up best-first
    for end in range(size - 1, 0, -1):
        hs[0], hs[end] = hs[end], hs[0]
        hi[0], hi[end] = hi[end], hi[0]
        _sift_down(hs, hi, 0, end)
    for pos in range(size, n):
        hs[pos] = -np.inf
        hi[pos] = -1


def score_scratch(n_threads, user_block, item_block, dtype):
    """Per-thread scratch for :func:`score_top_n`: one block of scores and heap sizes."""
    return (np.empty((n_threads, user_block * item_block), dtype=dtype),
            np.empty((n_threads, user_block), dtype=np.int64))


@njit(**OUTER)
def score_top_n(query, factors, row_offset, column_scale, column_bias, labels, exclude_start,
                exclude_end, exclude_indices, column_of, n, out_labels, out_scores, user_block,
                item_block, scratch, query_norms, column_bounds, bias_bounds):
    """Best ``n`` of ``(query @ factors.T) * column_scale + column_bias + row_offset[:, None]``
    per row (``column_scale`` and ``column_bias`` may be empty: no such term), scoring
    and selecting together.

    Parallel over blocks of ``user_block`` rows; each thread scores its rows
    against ``item_block`` columns at a time with one single-threaded gemm into
    its own cache-sized scratch and feeds the scores to the rows' heaps, so no
    full score matrix is ever stored and BLAS and selection never take turns.
    ``labels[c]`` is the item id of column c (any order); row r excludes the items
    ``exclude_indices[exclude_start[r]:exclude_end[r]]``, mapped to columns by
    ``column_of`` (−1: not a candidate). Rows with fewer than n candidates are
    padded with label −1 and score −inf.

    Exact pruning, when ``column_bounds`` is not empty: the columns are in order of
    decreasing norm, ``column_bounds[c] ≥ ‖factors[c']‖`` for every ``c' ≥ c`` (one
    more entry, 0, at the end) and ``query_norms[r] = ‖query[r]‖``. A block of rows
    stops scoring once every row's n-th best score beats ``‖q‖ · column_bounds[c]``
    (Cauchy–Schwarz, widened by the rounding of a K-term dot product): no later
    column can enter any of its heaps. With ``column_bias``, ``bias_bounds[c]`` is the
    largest bias of the columns from c on, added to the bound, as is the row's offset
    (added to the scores before the selection, so that scores equal as returned rank
    by the lower label). Pruning needs ``column_scale`` empty.
    """
    n_rows = query.shape[0]
    n_cols = factors.shape[0]
    block_scores, sizes_s = scratch
    n_blocks = (n_rows + user_block - 1) // user_block
    prune = column_bounds.shape[0] > 0
    eps = np.finfo(query.dtype).eps
    rounding = 1.0 + 4.0 * query.shape[1] * eps
    biased = bias_bounds.shape[0] > 0
    for blk in prange(n_blocks):
        tid = numba.get_thread_id()
        sizes = sizes_s[tid]
        r0 = blk * user_block
        r1 = min(r0 + user_block, n_rows)
        rows = r1 - r0
        for i in range(rows):
            sizes[i] = 0
        q = query[r0:r1]
        for c0 in range(0, n_cols, item_block):
            c1 = min(c0 + item_block, n_cols)
            width = c1 - c0
            scores = block_scores[tid, :rows * width].reshape((rows, width))
            np.dot(q, factors[c0:c1].T, scores)
            for i in range(rows):
                r = r0 + i
                row = scores[i]
                if column_scale.shape[0] > 0:
                    for c in range(width):
                        row[c] *= column_scale[c0 + c]
                if column_bias.shape[0] > 0:
                    for c in range(width):
                        row[c] += column_bias[c0 + c]
                # the offset before the selection: scores that round to one value once
                # it is added are ranked as ties (by the lower label), as they are shown
                shift = row_offset[r]
                if shift != 0.0:
                    for c in range(width):
                        row[c] += shift
                for p in range(exclude_start[r], exclude_end[r]):
                    c = column_of[exclude_indices[p]]
                    if c >= c0 and c < c1:
                        row[c - c0] = -np.inf
                hs = out_scores[r]
                hi = out_labels[r]
                size = sizes[i]
                # the heap's worst kept score: most candidates fail this one comparison
                worst = hs[0] if size == n else -np.inf
                for c in range(width):
                    s = row[c]
                    if not s > worst:  # below, excluded (−inf), NaN, or a tie that
                        if not (s == worst and size == n and labels[c0 + c] < hi[0]):
                            continue  # ... does not win on the lower label
                    size = _offer(hs, hi, size, n, s, labels[c0 + c])
                    if size == n:
                        worst = hs[0]
                sizes[i] = size
            if prune and c1 < n_cols:
                done = True
                for i in range(rows):
                    bound = query_norms[r0 + i] * column_bounds[c1] * rounding
                    if biased:
                        bound += bias_bounds[c1]
                    if biased or row_offset[r0 + i] != 0.0:
                        # the terms added, and the rounding of each addition
                        bound += row_offset[r0 + i]
                        bound += 4.0 * eps * (abs(bound) + abs(row_offset[r0 + i]))
                    if sizes[i] < n or not out_scores[r0 + i, 0] > bound:
                        done = False
                        break
                if done:
                    break
        for i in range(rows):
            _finish(out_scores[r0 + i], out_labels[r0 + i], sizes[i], n)
