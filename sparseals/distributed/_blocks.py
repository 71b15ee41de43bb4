"""Blocks of ratings and of factors, as they live on the workers (plain numpy, no Dask).

A *rating block* holds a contiguous range of one side's rows (users for the user
step, items for the item step) with all their ratings, so a half-step over the
block computes exactly the rows a single-machine half-step computes. With routing
(``routed=True``) it also knows, for every block of the other side, which of its
own rows that block references (Spark's "out-block"), and its column indices point
into the concatenation of the rows it receives (the sorted unique columns it
references) instead of into the whole other side.
"""

from typing import NamedTuple

import numpy as np

from ..ratings import Compressed

# seconds to wait for factors coming back to the client without a timeout given: the last
# completed ones after an interruption, or a DistributedRows' (which could wait forever)
GATHER_SECONDS = 30.0


class RatingBlock(NamedTuple):
    """One side's rows ``offset .. offset + n_rows - 1`` and everything a half-step needs."""

    rows: Compressed
    """The block's ratings; column indices global, or local to the received rows if routed."""
    offset: int
    """Global index of the block's first row."""
    n_cols: int
    """Rows of the whole other side."""
    routes: tuple
    """Routed: for each block of the other side, the local rows of this block it references;
    empty when broadcasting."""

    @property
    def n_rows(self):
        return len(self.rows.indptr) - 1


class FactorBlock(NamedTuple):
    """Factor rows (and biases, or ``None``) of one block, or of a routed selection."""

    factors: np.ndarray
    biases: object

    @property
    def nbytes(self):
        return self.factors.nbytes + (0 if self.biases is None else self.biases.nbytes)


def bounds(n, parts, indptr=None):
    """Row boundaries splitting ``n`` rows into at most ``parts`` non-empty ranges.

    With ``indptr`` the ranges hold about equal numbers of ratings; without it,
    about equal numbers of rows. A range that would hold no rows (more parts than
    rows, or very uneven rows) is dropped: an empty block computes nothing but
    still costs its tasks and, broadcast, a copy of the other side's factors.
    """
    if indptr is None:
        cuts = np.linspace(0, n, parts + 1).round()
    else:
        targets = indptr[-1] * np.arange(1, parts, dtype=np.float64) / parts
        inner = np.searchsorted(indptr, targets, side="left")
        cuts = np.concatenate([[0], np.clip(inner, 0, n), [n]])
    return np.unique(cuts).astype(np.int64)


def make_block(indptr, indices, data, offset, n_cols, other_bounds, routed):
    """A :class:`RatingBlock` from the compressed rows of one range (global column indices)."""
    indptr = np.asarray(indptr)
    indptr = indptr - indptr[0]
    indices = np.asarray(indices)
    routes = ()
    if routed:  # bitmaps, not sorts: O(nnz + rows × other blocks + n_cols)
        n_rows = len(indptr) - 1
        owner = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(indptr))
        col_block = np.searchsorted(other_bounds, indices, side="right") - 1
        used_by = np.zeros((len(other_bounds) - 1, n_rows), dtype=bool)
        used_by[col_block, owner] = True
        routes = tuple(np.flatnonzero(row).astype(np.int32) for row in used_by)
        referenced = np.zeros(n_cols, dtype=bool)
        referenced[indices] = True
        position = np.cumsum(referenced, dtype=np.int64) - 1  # rank among referenced columns
        indices = position[indices].astype(np.int32)
    return RatingBlock(Compressed(indptr, indices, np.asarray(data)), int(offset), int(n_cols),
                       routes)


def factor_block(factors, biases=None):
    """A :class:`FactorBlock` (a task of its own, so Dask can recompute it from its inputs)."""
    return FactorBlock(np.asarray(factors), None if biases is None else np.asarray(biases))


def take_rows(factors, block, target):
    """The rows of ``factors`` (this block's) that block ``target`` of the other side uses."""
    rows = block.routes[target]
    return FactorBlock(factors.factors[rows],
                       None if factors.biases is None else factors.biases[rows])


def concatenate(parts):
    """One :class:`FactorBlock` from consecutive parts (all other-side blocks, or routed takes)."""
    factors = np.concatenate([part.factors for part in parts])
    biases = None
    if parts[0].biases is not None:
        biases = np.concatenate([part.biases for part in parts])
    return FactorBlock(factors, biases)


def gram(factors):
    """``XᵀX`` (float64) of a :class:`FactorBlock`'s factors."""
    return (factors.factors.T @ factors.factors).astype(np.float64)


def rows_of(factors, rows):
    """Some rows of a :class:`FactorBlock`'s factors (for a distributed factor matrix)."""
    return factors.factors[rows]


def workers_of(client):
    """Every worker of the cluster, sorted. Not ``client.scheduler_info()["workers"]``: some
    distributed releases (2025-2026) list only five workers there by default."""
    return sorted(client.nthreads())


def spread(workers, index):
    """Submit options placing block ``index`` on one of ``workers`` in turn (a preference
    only: Dask may run it elsewhere, e.g. when rebuilding it after that worker died)."""
    if not workers:
        return {}
    return {"workers": [workers[index % len(workers)]], "allow_other_workers": True}
