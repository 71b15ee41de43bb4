"""Per-user ranking metrics, parallel over users.

The caller supplies each user's top-k list (from the top-n kernel) or a block of
full scores (one BLAS product); these kernels do the per-user counting that BLAS
cannot. Relevant items are given as sorted CSR slices, looked up by binary search.
"""

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


@njit(**OUTER)
def auc_rows(scores, excl_start, excl_end, excl_indices, pos_start, pos_end, pos_indices, out):
    """Per row, the probability that a relevant item outscores an irrelevant one.

    Row r's candidates are all columns of ``scores`` except
    ``excl_indices[excl_start[r]:excl_end[r]]``; its relevant ones are
    ``pos_indices[pos_start[r]:pos_end[r]]`` (relevant wins over excluded). Ties
    count one half (Mann–Whitney with mid-ranks). ``out[r]`` is NaN when the row
    has no relevant or no irrelevant candidate.
    """
    n_rows, n_cols = scores.shape
    for r in prange(n_rows):
        flag = np.zeros(n_cols, dtype=np.int8)  # 0 irrelevant, 1 excluded, 2 relevant
        for p in range(excl_start[r], excl_end[r]):
            flag[excl_indices[p]] = 1
        for p in range(pos_start[r], pos_end[r]):
            flag[pos_indices[p]] = 2
        n = 0
        for c in range(n_cols):
            if flag[c] != 1:
                n += 1
        values = np.empty(n, dtype=scores.dtype)
        relevant = np.empty(n, dtype=np.bool_)
        n = 0
        for c in range(n_cols):
            if flag[c] != 1:
                values[n] = scores[r, c]
                relevant[n] = flag[c] == 2
                n += 1
        order = np.argsort(values)
        n_pos = 0
        rank_sum = 0.0
        first = 0
        while first < n:  # walk groups of tied scores, giving each its mid-rank
            last = first
            while last + 1 < n and values[order[last + 1]] == values[order[first]]:
                last += 1
            mid_rank = 0.5 * (first + last) + 1.0
            for q in range(first, last + 1):
                if relevant[order[q]]:
                    n_pos += 1
                    rank_sum += mid_rank
            first = last + 1
        n_neg = n - n_pos
        if n_pos == 0 or n_neg == 0:
            out[r] = np.nan
        else:
            out[r] = (rank_sum - 0.5 * n_pos * (n_pos + 1.0)) / (float(n_pos) * n_neg)
