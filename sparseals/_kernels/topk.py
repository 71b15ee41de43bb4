"""Top-n selection over blocks of scores, excluding given items, parallel over rows.

The scores themselves are one BLAS matrix product done by the caller; this kernel
does what BLAS cannot: per-row exclusion and a partial selection (a size-n heap,
never a full sort of all items). Order: higher score first, ties by lower index.
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


@njit(**OUTER)
def top_n(scores, labels, exclude_start, exclude_end, exclude_indices, column_of, n,
          out_labels, out_scores):
    """Best ``n`` columns of each row of ``scores`` into ``out_labels``/``out_scores``.

    ``labels[c]`` is the item id of column c; row r excludes the items
    ``exclude_indices[exclude_start[r]:exclude_end[r]]``, mapped to columns
    by ``column_of`` (−1: not a candidate). Excluded columns are overwritten with
    −inf in ``scores``. Rows with fewer than n candidates are padded with label −1
    and score −inf.
    """
    n_rows, n_cols = scores.shape
    for r in prange(n_rows):
        row = scores[r]
        for p in range(exclude_start[r], exclude_end[r]):
            c = column_of[exclude_indices[p]]
            if c >= 0:
                row[c] = -np.inf
        hs = out_scores[r]
        hi = out_labels[r]
        size = 0
        for c in range(n_cols):
            s = row[c]
            if s == -np.inf or s != s:  # excluded (or NaN, never ranked)
                continue
            lab = labels[c]
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
