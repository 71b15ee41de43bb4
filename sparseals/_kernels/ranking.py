"""Per-user ranking metrics, parallel over users.

The caller supplies each user's top-k list (from the top-n kernel), or the factors
whose products give the full scores (computed a block of users at a time inside the
AUC kernel); these kernels do the per-user counting that BLAS cannot. Relevant items
are given as sorted CSR slices, looked up by binary search.
"""

import numba
import numpy as np
from numba import njit, prange

from ._options import INNER, OUTER

PRECISION, RECALL, NDCG, AP, HIT = range(5)
N_TOPK_METRICS = 5


@njit(**INNER)
def _contains(sorted_indices, start, end, item):
    lo = start
    hi = end
    while lo < hi:
        mid = (lo + hi) // 2
        if sorted_indices[mid] < item:
            lo = mid + 1
        else:
            hi = mid
    return lo < end and sorted_indices[lo] == item


@njit(**OUTER)
def topk_rows(top, rel_start, rel_end, rel_indices, out):
    """Precision, recall, NDCG, average precision and hit of each row's top-k list.

    ``top[r]`` holds row r's ranked item ids (−1 pads a short list); its relevant
    items are ``rel_indices[rel_start[r]:rel_end[r]]``, sorted ascending.
    ``out[r]`` (float64, length 5) receives, with binary relevance:
    hits/k, hits/n_rel, DCG/IDCG (gain 1/log2(rank + 2)), Σ_hits precision@rank /
    min(k, n_rel), and 1 if any hit. A row without relevant items gets zeros.
    """
    n_rows, k = top.shape
    for r in prange(n_rows):
        start = rel_start[r]
        end = rel_end[r]
        n_rel = end - start
        hits = 0
        dcg = 0.0
        ap = 0.0
        for p in range(k):
            item = top[r, p]
            if item >= 0 and _contains(rel_indices, start, end, item):
                hits += 1
                dcg += 1.0 / np.log2(p + 2.0)
                ap += hits / (p + 1.0)
        ideal = 0.0
        for p in range(min(k, n_rel)):
            ideal += 1.0 / np.log2(p + 2.0)
        out[r, PRECISION] = hits / k
        out[r, RECALL] = hits / n_rel if n_rel > 0 else 0.0
        out[r, NDCG] = dcg / ideal if ideal > 0 else 0.0
        out[r, AP] = ap / min(k, n_rel) if n_rel > 0 else 0.0
        out[r, HIT] = 1.0 if hits > 0 else 0.0


PASSES_UP_TO = 512
"""A row with at most this many relevant items counts its wins by vectorised passes over
the row, four relevant items a pass; a longer one places each irrelevant score among
the sorted relevant ones by binary search (the two cost the same at ~512 relevant
items on 26,744 columns; at 1 relevant item the passes are 27× faster)."""


@njit(**INNER)
def _doubled_wins_by_passes(row, flag, relevant, n_pos):
    """``2 × Σ`` over irrelevant columns c (``flag[c] == 0``) and relevant scores a of
    ``[row[c] < a] + ½ [row[c] == a]``, in integers."""
    n_cols = row.shape[0]
    total = 0
    q = 0
    while q + 4 <= n_pos:
        a0 = relevant[q]
        a1 = relevant[q + 1]
        a2 = relevant[q + 2]
        a3 = relevant[q + 3]
        c0 = 0
        c1 = 0
        c2 = 0
        c3 = 0
        for c in range(n_cols):  # branch-free, so that it vectorises
            value = row[c]
            keep = flag[c] == 0
            c0 += keep * (2 * (value < a0) + (value == a0))
            c1 += keep * (2 * (value < a1) + (value == a1))
            c2 += keep * (2 * (value < a2) + (value == a2))
            c3 += keep * (2 * (value < a3) + (value == a3))
        total += c0 + c1 + c2 + c3
        q += 4
    while q < n_pos:
        a0 = relevant[q]
        c0 = 0
        for c in range(n_cols):
            value = row[c]
            c0 += (flag[c] == 0) * (2 * (value < a0) + (value == a0))
        total += c0
        q += 1
    return total


@njit(**INNER)
def _count_below(sorted_values, n, value, strict):
    """How many of ``sorted_values[:n]`` are below ``value`` (``strict``) or at most it."""
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) // 2
        if sorted_values[mid] < value or (not strict and sorted_values[mid] == value):
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(**INNER)
def _doubled_wins_by_search(row, flag, relevant, n_pos):
    """As :func:`_doubled_wins_by_passes`, sorting ``relevant[:n_pos]`` in place."""
    relevant[:n_pos].sort()
    total = 0
    for c in range(row.shape[0]):
        if flag[c] == 0:
            value = row[c]
            at_most = _count_below(relevant, n_pos, value, False)
            below = _count_below(relevant, n_pos, value, True)
            total += 2 * (n_pos - at_most) + (at_most - below)
    return total


def auc_scratch(n_threads, n_cols, dim, max_relevant, dtype, user_block):
    """Per-thread scratch of :func:`auc_rows`: zeroed column flags, relevant scores, the
    block's query rows and its scores."""
    return (np.zeros((n_threads, n_cols), dtype=np.int8),
            np.empty((n_threads, max(max_relevant, 1)), dtype=dtype),
            np.empty((n_threads, user_block, dim), dtype=dtype),
            np.empty((n_threads, user_block, n_cols), dtype=dtype))


@njit(**OUTER)
def auc_rows(query, rows, factors, excl_start, excl_end, excl_indices, pos_start, pos_end,
             pos_indices, out, scratch):
    """Per row, the probability that a relevant item outscores an irrelevant one.

    Row r's scores are ``query[rows[r]] @ factors.T``, computed ``user_block`` rows
    at a time (the scratch's size) by one single-threaded gemm per thread, so that BLAS
    and the counting never compete for the cores. Its candidates are all columns
    except ``excl_indices[excl_start[r]:excl_end[r]]``; its relevant ones are
    ``pos_indices[pos_start[r]:pos_end[r]]`` (relevant wins over excluded). Ties
    count one half (the Mann–Whitney statistic). ``out[r]`` is NaN when the row has
    no relevant or no irrelevant candidate. ``scratch`` comes from :func:`auc_scratch`
    (its flags are left zeroed).

    Only the relevant items are ranked against the rest (:data:`PASSES_UP_TO`), not
    every candidate sorted: one held-out item per user on the ml20m shape took 220 s
    that way.
    """
    flags_s, relevant_s, query_s, scores_s = scratch
    user_block = scores_s.shape[1]
    n_rows = rows.shape[0]
    n_cols = factors.shape[0]
    n_blocks = (n_rows + user_block - 1) // user_block
    for blk in prange(n_blocks):
        tid = numba.get_thread_id()
        flag = flags_s[tid]  # 0 irrelevant, 1 excluded, 2 relevant
        relevant = relevant_s[tid]
        r0 = blk * user_block
        size = min(user_block, n_rows - r0)
        block_query = query_s[tid, :size]
        for i in range(size):
            block_query[i] = query[rows[r0 + i]]
        scores = scores_s[tid, :size]
        np.dot(block_query, factors.T, scores)
        for i in range(size):
            r = r0 + i
            row = scores[i]
            n_flagged = 0
            for p in range(excl_start[r], excl_end[r]):
                n_flagged += flag[excl_indices[p]] == 0
                flag[excl_indices[p]] = 1
            n_pos = 0
            for p in range(pos_start[r], pos_end[r]):
                n_flagged += flag[pos_indices[p]] == 0
                flag[pos_indices[p]] = 2
                relevant[n_pos] = row[pos_indices[p]]
                n_pos += 1
            n_neg = n_cols - n_flagged
            if n_pos <= PASSES_UP_TO:
                wins = _doubled_wins_by_passes(row, flag, relevant, n_pos)
            else:
                wins = _doubled_wins_by_search(row, flag, relevant, n_pos)
            for p in range(excl_start[r], excl_end[r]):
                flag[excl_indices[p]] = 0
            for p in range(pos_start[r], pos_end[r]):
                flag[pos_indices[p]] = 0
            if n_pos == 0 or n_neg == 0:
                out[r] = np.nan
            else:
                out[r] = 0.5 * wins / (float(n_pos) * n_neg)
