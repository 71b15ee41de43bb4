"""Rating blocks from a Dask DataFrame, with ids encoded on the cluster.

The client never holds the frame: each partition reports its distinct ids, one
task merges them into the sorted unique ids (``pd.factorize(..., sort=True)``, as
:meth:`Ratings.from_dataframe` does, so the encoding is the same), each partition
is encoded and cut by user range, each user block is built with
:meth:`Ratings.from_coo` (validation and duplicate handling included), and each
item block is stacked from the column ranges of the user blocks that rate its items.
The client gathers only the ids, the partitions' lengths, the seen-items structure
(for ``recommend``, and to know which user blocks rate which items) and a few sums.
"""

import operator
import uuid

import numpy as np

from .. import _validation as v
from .._base import value_moments
from ..ratings import (Compressed, DuplicatePairsError, Ratings, _check_columns,
                       _duplicate_message, _indptr_dtype, _one_kind_of_ids)
from ..solvers import _check_confidence_values
from . import _blocks
from ._wait import within


def layout_from_dataframe(client, frame, user, item, rating, dtype, n_blocks, routed, confidence,
                          duplicates="error", timeout=None):
    """The rating blocks of a Dask DataFrame, plus the data ``model._initialise`` reads.

    Returns a dict with ``user`` and ``item`` (lists of block futures), ``bounds``,
    ``shape``, ``seen`` (the users' item indices, no values) and ``stand_in``: a
    :class:`Ratings` with the full seen structure, the ids and, in place of the
    values, the mean rating alone, and ``moments``, the values' mean and mean square
    (all the models' initialisation reads of them).
    Each wait for the cluster lasts at most ``timeout`` seconds (None: no limit).
    """
    _check_columns(frame, (("user", user), ("item", item), ("rating", rating)))
    # each column once: a column named for two roles would be two columns of one label
    columns = list(dict.fromkeys([user, item] + ([] if rating is None else [rating])))
    token = uuid.uuid4().hex[:8]
    made = []  # every future, cancelled if the layout fails: the error's traceback would
    try:       # otherwise keep them (and the blocks) alive on the cluster
        return _layout(client, frame, columns, user, item, rating, dtype, n_blocks, routed,
                       confidence, duplicates, timeout, token, made)
    except BaseException:
        client.cancel(made, force=True)
        raise



def _layout(client, frame, columns, user, item, rating, dtype, n_blocks, routed, confidence,
            duplicates, timeout, token, made):
    def submit(*args, **kwargs):
        made.append(client.submit(*args, **kwargs))
        return made[-1]

    late = (f"encoding the DataFrame took longer than timeout={timeout} seconds; check the "
            "cluster's workers or raise timeout")

    workers = _blocks.workers_of(client)
    parts = client.compute(frame[columns].to_delayed())
    made.extend(parts)
    distinct = [submit(distinct_ids, part, user, item, p, key=f"sparseals-ids-{p}-{token}")
                for p, part in enumerate(parts)]
    ids_future = submit(merge_ids, distinct, user, item, key=f"sparseals-ids-{token}")
    lengths = [submit(len, part, key=f"sparseals-rows-{p}-{token}")
               for p, part in enumerate(parts)]
    (user_ids, item_ids), lengths = within(client, [ids_future, lengths], timeout, late)
    first_rows = np.cumsum([0] + lengths[:-1])  # an error names a row of the whole frame
    if len(user_ids) == 0:
        raise ValueError("no ratings given: the DataFrame is empty")
    shape = v.shape_2d((len(user_ids), len(item_ids)))
    bounds = {"user": _blocks.bounds(shape[0], n_blocks[0]),
              "item": _blocks.bounds(shape[1], n_blocks[1])}
    user_cuts, item_cuts = bounds["user"], bounds["item"]
    coded = [submit(encode_partition, part, ids_future, user, item, rating, dtype,
                    user_cuts, int(first_rows[p]), key=f"sparseals-encode-{p}-{token}")
             for p, part in enumerate(parts)]
    subsets = []
    for b in range(len(user_cuts) - 1):
        pieces = [submit(operator.getitem, c, b, key=f"sparseals-piece-{p}-{b}-{token}")
                  for p, c in enumerate(coded)]
        subsets.append(submit(user_ratings, pieces, int(user_cuts[b]),
                              int(user_cuts[b + 1] - user_cuts[b]), shape[1], dtype,
                              confidence, duplicates, ids_future,
                              key=f"sparseals-user-ratings-{b}-{token}",
                              **_blocks.spread(workers, b)))
    user_blocks = [submit(user_block, s, int(user_cuts[b]), shape[1], item_cuts, routed,
                          key=f"sparseals-user-block-{b}-{token}", **_blocks.spread(workers, b))
                   for b, s in enumerate(subsets)]
    summaries = within(client, [submit(summary, s, key=f"sparseals-summary-{b}-{token}")
                                 for b, s in enumerate(subsets)], timeout, late)
    # which user blocks rate items of which item block: each item block stacks the
    # column ranges of those only (all pairs would be blocks² tasks, most of them empty)
    rates = np.zeros((len(subsets), len(item_cuts) - 1), dtype=bool)
    for b, s in enumerate(summaries):
        rates[b, np.searchsorted(item_cuts, s[1], side="right") - 1] = True
    item_blocks = []
    for c in range(len(item_cuts) - 1):  # every item has a rating: rates[:, c].any()
        lo, hi = int(item_cuts[c]), int(item_cuts[c + 1])
        pieces = [submit(column_range, subsets[b], lo, hi, int(user_cuts[b]),
                         key=f"sparseals-columns-{b}-{c}-{token}")
                  for b in np.flatnonzero(rates[:, c])]
        item_blocks.append(submit(item_block, pieces, lo, shape[0], user_cuts, routed,
                                  key=f"sparseals-item-block-{c}-{token}",
                                  **_blocks.spread(workers, c)))
    counts = np.concatenate([s[0] for s in summaries])
    indices = np.concatenate([s[1] for s in summaries])
    nnz = int(counts.sum())
    indptr = np.zeros(shape[0] + 1, dtype=_indptr_dtype(nnz))
    np.cumsum(counts, out=indptr[1:])
    mean = sum(s[2] for s in summaries) / nnz
    moments = (mean, sum(s[3] for s in summaries) / nnz)  # as _base.value_moments
    stand_in = Ratings(Compressed(indptr, indices, np.array([mean])), None, shape, user_ids,
                       item_ids)
    return {"user": user_blocks, "item": item_blocks, "bounds": bounds, "shape": shape,
            "workers": workers,
            "seen": Compressed(indptr, indices, None), "stand_in": stand_in,
            "moments": moments}


# ---------------------------------------------------------------------- worker tasks
def distinct_ids(frame, user, item, index):
    """A partition's distinct user and item ids (pandas Series, dtypes kept)."""
    out = []
    for role, column in (("user", user), ("item", item)):
        series = frame[column]
        missing = series.isna().to_numpy()
        if missing.any():
            raise ValueError(f"{role} column {column!r} has missing ids (first at row "
                             f"{int(np.flatnonzero(missing)[0])} of partition {index})")
        out.append(series.drop_duplicates())
    return tuple(out)


def merge_ids(distinct, user, item):
    """Sorted unique user and item ids over all partitions (``pd.factorize(sort=True)``'s),
    checked and typed as :meth:`Ratings.from_dataframe` does."""
    import pandas as pd

    merged = []
    for side, (role, column) in enumerate((("user", user), ("item", item))):
        parts = [d[side] for d in distinct if len(d[side])]
        if not parts:
            return np.array([]), np.array([])
        ids = _one_kind_of_ids(pd.concat(parts, ignore_index=True), f"{role} column {column!r}",
                               role)
        merged.append(np.asarray(pd.factorize(ids, sort=True)[1]))
    return tuple(merged)


def encode_partition(frame, ids, user, item, rating, dtype, user_cuts, first_row=0):
    """A partition as (user − block start, item, value) triples, one per user block
    (``first_row``: the partition's first row in the whole frame)."""
    import pandas as pd

    users = pd.Index(ids[0]).get_indexer(frame[user])
    items = pd.Index(ids[1]).get_indexer(frame[item]).astype(np.int32)
    if rating is None:
        values = np.ones(len(frame), dtype=dtype)
    else:
        values = v.value_array(frame[rating].to_numpy(), f"rating column {rating!r}", dtype,
                               offset=first_row)
    block_of = np.searchsorted(user_cuts, users, side="right") - 1
    out = []
    for b in range(len(user_cuts) - 1):
        mask = block_of == b
        out.append(((users[mask] - user_cuts[b]).astype(np.int32), items[mask], values[mask]))
    return out


def user_ratings(pieces, offset, n_users, n_items, dtype, confidence, duplicates, ids):
    """One user block's ratings (users local from ``offset``, items global) as a
    :class:`Ratings`; ``ids`` (user ids, item ids) name a duplicated pair."""
    users = np.concatenate([p[0] for p in pieces])
    items = np.concatenate([p[1] for p in pieces])
    values = np.concatenate([p[2] for p in pieces]).astype(dtype, copy=False)
    if len(values) == 0:
        def empty(n):
            return Compressed(np.zeros(n + 1, dtype=np.int32), np.zeros(0, dtype=np.int32),
                              np.zeros(0, dtype=dtype))
        return Ratings(empty(n_users), empty(n_items), (n_users, n_items))
    try:
        ratings = Ratings.from_coo(users, items, values, shape=(n_users, n_items), dtype=dtype,
                                   duplicates=duplicates)
    except DuplicatePairsError:  # its message holds this block's local indices
        raise DuplicatePairsError(_duplicate_message(
            users, items, (n_users, n_items), ids[0][offset:offset + n_users], ids[1],
            positions=False)) from None
    v.arithmetic_range(ratings.by_user.data, "ratings", dtype)
    if confidence is not None:  # (confidence, alpha, unobserved_weight) of an ImplicitALS
        rows = ratings.by_user

        def pair(position):  # a position in this block's storage would mean nothing
            row = np.searchsorted(rows.indptr, position, side="right") - 1
            user, item = ids[0][offset + row], ids[1][rows.indices[position]]
            return f"the (user, item) pair ({user}, {item})"

        _check_confidence_values(rows.data, "data", *confidence, dtype, at=pair)
    return ratings


def user_block(ratings, offset, n_items, item_cuts, routed):
    rows = ratings.by_user
    return _blocks.make_block(rows.indptr, rows.indices, rows.data, offset, n_items, item_cuts,
                              routed)


def column_range(ratings, lo, hi, row_offset):
    """Items ``lo..hi-1`` of one user block: (ratings per item, global users, values)."""
    cols = ratings.by_item
    start, stop = int(cols.indptr[lo]), int(cols.indptr[hi])
    return (np.diff(cols.indptr[lo:hi + 1]), cols.indices[start:stop] + np.int32(row_offset),
            cols.data[start:stop])


def item_block(pieces, offset, n_users, user_cuts, routed):
    """Stack consecutive user blocks' column ranges into one item block (rows = items)."""
    counts = np.sum([p[0] for p in pieces], axis=0)
    nnz = int(counts.sum())
    indptr = np.zeros(len(counts) + 1, dtype=_indptr_dtype(nnz))
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(nnz, dtype=np.int32)
    data = np.empty(nnz, dtype=pieces[0][2].dtype)
    filled = indptr[:-1].astype(np.int64)  # next free slot of each item
    for piece_counts, rows, values in pieces:
        starts = np.concatenate([[0], np.cumsum(piece_counts)[:-1]])
        where = np.repeat(filled - starts, piece_counts) + np.arange(len(rows))
        indices[where] = rows
        data[where] = values
        filled += piece_counts
    return _blocks.make_block(indptr, indices, data, offset, n_users, user_cuts, routed)


def summary(ratings):
    """(ratings per user, item indices, sum of values, sum of their squares) of one user
    block, for the client."""
    rows = ratings.by_user
    mean, mean_square = value_moments(rows.data)
    n = len(rows.data)
    return np.diff(rows.indptr), rows.indices, mean * n, mean_square * n
