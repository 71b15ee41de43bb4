"""Accuracy and ranking metrics of a fitted model on held-out ratings.

Every function takes a fitted model and a :class:`~sparseals.Ratings` of held-out
ratings in the model's index space (same users and items, as the splits of
:mod:`sparseals.model_selection` produce). Rating metrics (RMSE, MAE) score each
held-out pair; ranking metrics rank, for every user with held-out ratings, all
items except the ones the user rated in training (``exclude_seen``), with the
model's top-n machinery, and average over those users. Relevance is binary: a
held-out item is relevant (or, with ``threshold``, one rated at least that).
A held-out item the user also rated in training (train and test parts that
overlap; the splits never do) is never in the top-k lists with ``exclude_seen``
and counts as a relevant item missed; :func:`auc` keeps it as a relevant candidate.
The per-user counting runs in parallel numba kernels (:mod:`._kernels.ranking`).
"""

import numbers

import numpy as np

from . import _validation as v
from ._threads import kernel_threads
from .ratings import Ratings

__all__ = ["rmse", "mae", "precision_at_k", "recall_at_k", "ndcg_at_k", "map_at_k",
           "hit_rate_at_k", "auc", "evaluate", "METRICS"]

_TOPK = {"precision": 0, "recall": 1, "ndcg": 2, "map": 3, "hit_rate": 4}
METRICS = ("rmse", "mae", "precision", "recall", "ndcg", "map", "hit_rate", "auc")
"""Names accepted by :func:`evaluate` (and ``cross_validate`` / ``grid_search``)."""


def rmse(model, ratings, clip=None):
    """Root mean squared error of the model's predictions on ``ratings``.

    Parameters
    ----------
    model : fitted ExplicitALS or ImplicitALS
    ratings : Ratings
        Held-out ratings in the model's index space.
    clip : (float, float), optional
        Clip predictions to this range first (e.g. the rating scale ``(1, 5)``).

    Returns
    -------
    float

    Examples
    --------
    >>> from sparseals.model_selection import train_test_split  # doctest: +SKIP
    >>> train, test = train_test_split(ratings, random_state=0)  # doctest: +SKIP
    >>> rmse(ExplicitALS().fit(train), test, clip=(1, 5))  # doctest: +SKIP
    """
    errors = _errors(model, ratings, clip)
    return float(np.sqrt(np.mean(errors ** 2)))


def mae(model, ratings, clip=None):
    """Mean absolute error of the model's predictions on ``ratings``.

    Parameters
    ----------
    model, ratings, clip
        As in :func:`rmse`.

    Returns
    -------
    float
    """
    return float(np.mean(np.abs(_errors(model, ratings, clip))))


def precision_at_k(model, ratings, k=10, exclude_seen=True, threshold=None):
    """Mean over users of (relevant items in the top k) / k.

    Parameters
    ----------
    model : fitted model
    ratings : Ratings
        Held-out ratings; a user's held-out items are the relevant ones.
    k : int
        Length of the recommendation list.
    exclude_seen : bool
        Leave the user's training items out of the ranking (as ``recommend`` does).
    threshold : float, optional
        Count only held-out items rated at least this as relevant.

    Returns
    -------
    float
        Averaged over the users with at least one relevant held-out item.
    """
    return _topk_metric("precision", model, ratings, k, exclude_seen, threshold)


def recall_at_k(model, ratings, k=10, exclude_seen=True, threshold=None):
    """Mean over users of (relevant items in the top k) / (relevant items).

    Parameters
    ----------
    model, ratings, k, exclude_seen, threshold
        As in :func:`precision_at_k`, and so is the average.
    """
    return _topk_metric("recall", model, ratings, k, exclude_seen, threshold)


def ndcg_at_k(model, ratings, k=10, exclude_seen=True, threshold=None):
    """Mean over users of DCG@k / ideal DCG@k with gain 1/log2(rank + 2), rank from 0.

    Parameters
    ----------
    model, ratings, k, exclude_seen, threshold
        As in :func:`precision_at_k`, and so is the average.
    """
    return _topk_metric("ndcg", model, ratings, k, exclude_seen, threshold)


def map_at_k(model, ratings, k=10, exclude_seen=True, threshold=None):
    """Mean average precision: per user Σ_(hits at rank r) precision@r / min(k, relevant).

    Parameters
    ----------
    model, ratings, k, exclude_seen, threshold
        As in :func:`precision_at_k`, and so is the average.
    """
    return _topk_metric("map", model, ratings, k, exclude_seen, threshold)


def hit_rate_at_k(model, ratings, k=10, exclude_seen=True, threshold=None):
    """Fraction of users with at least one relevant item in their top k.

    Parameters
    ----------
    model, ratings, k, exclude_seen, threshold
        As in :func:`precision_at_k`, and so is the average.
    """
    return _topk_metric("hit_rate", model, ratings, k, exclude_seen, threshold)


_AUC_BLOCK = 1 << 21
"""Scores per thread and block of :func:`auc` (users × items, 8 MiB in float32; the
block's copy of its users' factors is held to the same size): on the ml20m shape with
K = 64, 2²⁰ took 1.1–1.3× as long and 2¹⁸ 2.2× (smaller gemms)."""


def auc(model, ratings, exclude_seen=True, threshold=None):
    """Mean over users of the probability that a relevant item outscores an irrelevant one.

    Candidates are all items except the user's training items (with ``exclude_seen``);
    relevant ones are the user's held-out items (those rated at least ``threshold``,
    when given), irrelevant ones all the other candidates, held-out items below the
    threshold included. A held-out item that is also a training item stays a candidate,
    a relevant one. Ties count one half.

    Parameters
    ----------
    model : fitted model
    ratings : Ratings
        Held-out ratings in the model's index space.
    exclude_seen : bool
        Leave the user's training items out of the candidates.
    threshold : float, optional
        Count only held-out items rated at least this as relevant.

    Returns
    -------
    float
        Averaged over the users with at least one relevant and one irrelevant item.
    """
    model, ratings = _check(model, ratings)
    users, starts, ends, indices = _relevant(ratings, threshold)
    v.boolean(exclude_seen, "exclude_seen")
    import numba

    from ._kernels.ranking import auc_rows, auc_scratch

    n_items = len(model.item_factors_)
    seen = model._seen
    if exclude_seen:
        excl_start, excl_end = seen.indptr[users], seen.indptr[users + 1]
    else:
        excl_start = excl_end = np.zeros(len(users), dtype=np.int64)
    item_factors = np.ascontiguousarray(model._scoring_factors("item"))
    user_factors = model._scoring_factors("user")
    out = np.empty(len(users), dtype=np.float64)
    # the block's scores and its query rows both stay within the budget, and a block
    # need not be longer than the users there are
    user_block = max(1, min(len(users), _AUC_BLOCK // max(n_items, item_factors.shape[1])))
    scratch = auc_scratch(numba.config.NUMBA_NUM_THREADS, n_items, item_factors.shape[1],
                          int((ends - starts).max()), item_factors.dtype, user_block)
    with kernel_threads(model.num_threads):
        auc_rows(user_factors, users, item_factors, excl_start, excl_end, seen.indices,
                 starts, ends, indices, out, scratch)
    valid = ~np.isnan(out)
    if not valid.any():
        raise ValueError("no user has both a relevant and an irrelevant candidate item; "
                         "AUC is undefined")
    return float(out[valid].mean())


def evaluate(model, ratings, metrics=("rmse", "mae"), k=10, clip=None, exclude_seen=True,
             threshold=None):
    """Several metrics at once (the top-k lists are computed once for all ranking metrics).

    Parameters
    ----------
    model : fitted model
    ratings : Ratings
        Held-out ratings.
    metrics : sequence of str
        Names from ``METRICS``: 'rmse', 'mae', 'precision', 'recall', 'ndcg', 'map',
        'hit_rate', 'auc' (the ranking ones at ``k``).
    k, clip, exclude_seen, threshold
        As in the individual functions.

    Returns
    -------
    dict of str to float
    """
    metrics = _metric_names(metrics)
    _check_options(k, clip, exclude_seen, threshold)  # all of them, used or not by metrics
    result = {}
    topk = [m for m in metrics if m in _TOPK]
    if topk:
        table = _topk_table(model, ratings, k, exclude_seen, threshold)
        for name in topk:
            result[name] = float(table[:, _TOPK[name]].mean())
    for name in metrics:
        if name == "rmse":
            result[name] = rmse(model, ratings, clip)
        elif name == "mae":
            result[name] = mae(model, ratings, clip)
        elif name == "auc":
            result[name] = auc(model, ratings, exclude_seen, threshold)
    return {name: result[name] for name in metrics}


# ---------------------------------------------------------------------- helpers
def _metric_names(metrics):
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(metrics)
    if not metrics:
        raise ValueError(f"metrics must name at least one of {list(METRICS)}; got an empty list")
    for name in metrics:
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; choose from {list(METRICS)}")
    return metrics


def _check(model, ratings):
    """The fitted model and ``ratings``, checked to share users and items."""
    if not hasattr(model, "item_factors_") or not hasattr(model, "_scoring_factors"):
        raise ValueError(f"model must be a fitted sparseals model; got "
                         f"{type(model).__name__}" + (" (not fitted: call fit first)"
                                                      if hasattr(model, "fit") else ""))
    model._check_state()
    if not isinstance(ratings, Ratings):
        raise TypeError(f"ratings must be a sparseals Ratings of held-out ratings; got "
                        f"{type(ratings).__name__}")
    ratings._check_structure()  # the ranking kernels read its indices
    n_users, n_items = len(model.user_factors_), len(model.item_factors_)
    if ratings.shape[0] > n_users or ratings.shape[1] > n_items:
        raise ValueError(f"ratings has shape {ratings.shape} but the model was fitted on "
                         f"{(n_users, n_items)}; held-out ratings must use the model's user and "
                         "item indices (split with sparseals.model_selection)")
    for side, ids, fitted in (("user", ratings.user_ids, model.user_ids_),
                              ("item", ratings.item_ids, model.item_ids_)):
        if not np.array_equal(ids, fitted[:len(ids)]):
            raise ValueError(f"ratings' {side} ids differ from the model's: held-out ratings "
                             "must be encoded like the training ratings (split one Ratings with "
                             "sparseals.model_selection)")
    if ratings.nnz == 0:
        raise ValueError("ratings holds no held-out ratings")
    return model, ratings


def _errors(model, ratings, clip):
    model, ratings = _check(model, ratings)
    rows = ratings.by_user
    users = np.repeat(np.arange(ratings.shape[0], dtype=np.int32), np.diff(rows.indptr))
    predictions = model.predict(users, rows.indices).astype(np.float64)
    if _checked_clip(clip) is not None:
        np.clip(predictions, float(clip[0]), float(clip[1]), out=predictions)
    return predictions - rows.data


def _checked_clip(clip):
    if clip is not None and (
            not isinstance(clip, (tuple, list)) or len(clip) != 2
            or not all(isinstance(c, numbers.Real) and not isinstance(c, bool)
                       and c == c for c in clip) or clip[0] > clip[1]):  # c == c: not NaN
        raise ValueError(f"clip must be a pair of numbers (low, high) with low <= high; "
                         f"got {clip!r}")
    return clip


def _checked_threshold(threshold):
    if threshold is not None and (isinstance(threshold, bool)
                                  or not isinstance(threshold, numbers.Real)):
        raise ValueError(f"threshold must be a number or None; got {threshold!r}")
    if threshold != threshold:
        raise ValueError("threshold is NaN, which no rating is at least; give a number or None")
    return threshold


def _check_options(k, clip, exclude_seen, threshold):
    """The scoring options of :func:`evaluate`, checked before any work is done on them."""
    v.positive_int(k, "k")
    _checked_clip(clip)
    v.boolean(exclude_seen, "exclude_seen")
    _checked_threshold(threshold)


def _relevant(ratings, threshold):
    """Users with relevant held-out items and those items as CSR slices (start, end, indices)."""
    rows = ratings.by_user
    # each user's items sorted: _check ran Ratings._check_structure
    indptr, indices = rows.indptr.astype(np.int64), rows.indices
    if _checked_threshold(threshold) is not None:
        # in the ratings' own dtype, as their values were stored: a float64 threshold of
        # 3.3 is above float32(3.3) and left every rating of 3.3 out (a Python float of
        # 3.3 is cast to float32 by numpy and kept them)
        with np.errstate(over="ignore"):
            cut = np.asarray(float(threshold)).astype(rows.data.dtype)
        keep = rows.data >= cut
        row_of = np.repeat(np.arange(ratings.shape[0]), np.diff(indptr))
        counts = np.bincount(row_of[keep], minlength=ratings.shape[0])
        indptr = np.concatenate([[0], np.cumsum(counts)])
        indices = indices[keep]
    users = np.flatnonzero(np.diff(indptr) > 0)
    if len(users) == 0:
        raise ValueError(f"no held-out rating is relevant (threshold={threshold!r}); lower "
                         "the threshold")
    return users, indptr[users], indptr[users + 1], indices


def _topk_table(model, ratings, k, exclude_seen, threshold):
    """Per user with relevant items: precision, recall, NDCG, AP and hit at k (float64)."""
    from ._kernels.ranking import N_TOPK_METRICS, topk_rows

    model, ratings = _check(model, ratings)
    k = v.positive_int(k, "k")
    v.boolean(exclude_seen, "exclude_seen")
    users, starts, ends, indices = _relevant(ratings, threshold)
    top, _ = model.recommend(users, n=k, exclude_seen=exclude_seen)
    out = np.empty((len(users), N_TOPK_METRICS), dtype=np.float64)
    with kernel_threads(model.num_threads):
        topk_rows(top, starts, ends, indices, out)
    # recommend stops at the item count: the other metrics read min(k, relevant items),
    # the same for any k past it; precision divides by k itself (no padding to k, which
    # took k × users of memory)
    out[:, _TOPK["precision"]] *= top.shape[1] / k
    return out


def _topk_metric(name, model, ratings, k, exclude_seen, threshold):
    return float(_topk_table(model, ratings, k, exclude_seen, threshold)[:, _TOPK[name]].mean())
