"""Splitting ratings for evaluation, k-fold cross-validation and grid search.

Every split returns :class:`~sparseals.Ratings` with the *same* shape and id maps
as its input, so a model fitted on the training part scores the test part by index
(users or items absent from the training part get zero factors). Randomness goes
through ``numpy.random.default_rng(random_state)``: ``random_state`` is None, a
non-negative int, or a numpy Generator, SeedSequence or RandomState.

The time-based splits (:func:`leave_k_out` with ``timestamps``, :func:`split_by_time`)
take one timestamp per rating in the order of ``ratings.by_user`` (by user, then item),
as :func:`~sparseals.datasets.read_ratings` and ``Ratings.from_dataframe(...,
timestamp=column)`` return them. A DataFrame's own column is in its row order: of the
right length, but the wrong times for the ratings unless the rows happen to be sorted
that way, and nothing here can tell.
"""

import copy
import itertools
import numbers
import time

import numpy as np

from . import _validation as v
from .ratings import Compressed, Ratings, _transpose

__all__ = ["train_test_split", "leave_k_out", "split_by_time", "KFold", "cross_validate",
           "grid_search", "GridSearchResult"]


# ---------------------------------------------------------------------- splits
def train_test_split(ratings, test_size=0.2, random_state=None):
    """Split the ratings at random into a training and a test part.

    Parameters
    ----------
    ratings : Ratings
    test_size : float
        Fraction of the ratings held out, in (0, 1); the count is rounded.
    random_state : None, int, Generator, SeedSequence or RandomState

    Returns
    -------
    train, test : Ratings

    Examples
    --------
    >>> import sparseals as sa
    >>> r = sa.Ratings.from_coo([0, 0, 1, 1, 2], [0, 1, 0, 2, 1], [5, 3, 4, 1, 2])
    >>> train, test = train_test_split(r, test_size=0.4, random_state=0)
    >>> train.nnz, test.nnz
    (3, 2)
    """
    _check_ratings(ratings)
    n_test = _test_count(test_size, ratings.nnz)
    rng = v.random_generator(random_state)
    mask = np.zeros(ratings.nnz, dtype=bool)
    mask[rng.choice(ratings.nnz, size=n_test, replace=False)] = True
    return _split(ratings, mask)


def leave_k_out(ratings, k=1, min_ratings=None, timestamps=None, random_state=None):
    """Hold out ``k`` ratings of every user who has at least ``min_ratings``.

    Parameters
    ----------
    ratings : Ratings
    k : int
        Ratings held out per eligible user.
    min_ratings : int, optional
        Users with fewer ratings keep them all in training; default ``k + 1`` (the
        leave-one-out protocol of ``../shared/docs/BENCHMARKING.md`` uses ``k=1,
        min_ratings=5``).
    timestamps : array_like of int, optional
        One per rating, aligned with ``ratings.by_user`` (as
        :func:`~sparseals.datasets.read_ratings` and
        ``Ratings.from_dataframe(..., timestamp=column)`` return them; not
        ``df[column]``, which is in the DataFrame's row order); when given, each user's
        *latest* ``k`` ratings are held out (among equal times, the later positions in
        ``by_user``, i.e. the higher item indices), else random ones.
    random_state : None, int, Generator, SeedSequence or RandomState

    Returns
    -------
    train, test : Ratings

    Examples
    --------
    >>> import sparseals as sa
    >>> r = sa.Ratings.from_coo([0, 0, 0, 1, 1, 2], [0, 1, 2, 0, 2, 1], [5, 3, 4, 1, 2, 4])
    >>> train, test = leave_k_out(r, k=1, timestamps=[10, 30, 20, 5, 1, 7])
    >>> [index.tolist() for index in test.csr.nonzero()]  # users 0 and 1 lose their latest
    [[0, 1], [1, 0]]
    """
    _check_ratings(ratings)
    k = v.positive_int(k, "k")
    min_ratings = k + 1 if min_ratings is None else v.positive_int(min_ratings, "min_ratings")
    if min_ratings <= k:
        raise ValueError(f"min_ratings={min_ratings} must exceed k={k}, so that every eligible "
                         "user keeps a training rating")
    indptr = ratings.by_user.indptr.astype(np.int64)
    counts = np.diff(indptr)
    eligible = np.flatnonzero(counts >= min_ratings)
    if eligible.size == 0:
        raise ValueError(f"no user has min_ratings={min_ratings} ratings (the most any user has "
                         f"is {int(counts.max())}); lower min_ratings")
    rng = v.random_generator(random_state)
    if timestamps is None and k <= _FLOYD_MAX_K:
        held = indptr[eligible, None] + _random_subsets(rng, counts[eligible], k)
    else:
        key = rng.integers(0, 1 << 32, ratings.nnz) if timestamps is None else \
            _timestamps(timestamps, ratings)
        order = _by_row_then_key(counts, key)
        held = order[indptr[eligible + 1, None] - np.arange(1, k + 1)]  # each row's last k
    mask = np.zeros(ratings.nnz, dtype=bool)
    mask[held.ravel()] = True
    return _split(ratings, mask)


def split_by_time(ratings, timestamps, test_size=0.2, at=None):
    """Hold out the most recent ratings: a global cut in time.

    Parameters
    ----------
    ratings : Ratings
    timestamps : array_like of int
        One per rating, aligned with ``ratings.by_user`` (as
        :func:`~sparseals.datasets.load_movielens`, :func:`~sparseals.datasets.read_ratings`
        and ``Ratings.from_dataframe(..., timestamp=column)`` return them; not
        ``df[column]``, which is in the DataFrame's row order).
    test_size : float
        Fraction of the ratings, the latest ones, held out (ties broken by position).
    at : int, optional
        Instead of ``test_size``: hold out every rating with timestamp ``>= at``.

    Returns
    -------
    train, test : Ratings
    """
    _check_ratings(ratings)
    stamps = _timestamps(timestamps, ratings)
    if at is not None:
        if isinstance(at, bool) or not isinstance(at, numbers.Real):
            raise ValueError(f"at must be a timestamp (a number); got {at!r}")
        mask = stamps >= at
        if not mask.any() or mask.all():
            raise ValueError(f"at={at} puts {'no' if not mask.any() else 'every'} rating in the "
                             f"test part; timestamps run from {stamps.min()} to {stamps.max()}")
        return _split(ratings, mask)
    n_test = _test_count(test_size, ratings.nnz)
    mask = np.zeros(ratings.nnz, dtype=bool)
    mask[np.argsort(stamps, kind="stable")[ratings.nnz - n_test:]] = True
    return _split(ratings, mask)


class KFold:
    """K-fold cross-validation over ratings: each rating is in exactly one test fold.

    Parameters
    ----------
    n_splits : int
        Number of folds, at least 2.
    shuffle : bool
        Assign ratings to folds at random; else the p-th rating in row-major order
        goes to fold ``p mod n_splits``.
    random_state : None, int, Generator, SeedSequence or RandomState
        Used when ``shuffle``.

    Examples
    --------
    >>> for train, test in KFold(5, random_state=0).split(ratings):  # doctest: +SKIP
    ...     model.fit(train)
    """

    def __init__(self, n_splits=5, shuffle=True, random_state=None):
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state
        self._check()

    def _check(self):
        if v.positive_int(self.n_splits, "n_splits") < 2:
            raise ValueError(f"n_splits must be at least 2; got {self.n_splits}")
        v.boolean(self.shuffle, "shuffle")  # 'False' is truthy: it shuffled
        v.random_generator(self.random_state)

    def split(self, ratings):
        """An iterator of ``(train, test)`` Ratings, one pair per fold (the arguments are
        checked at the call, not at the first fold).

        Parameters
        ----------
        ratings : Ratings
            At least ``n_splits`` ratings.

        Returns
        -------
        iterator of (Ratings, Ratings)
        """
        self._check()  # again: the attributes may have been set since
        _check_ratings(ratings)
        if self.n_splits > ratings.nnz:
            raise ValueError(f"n_splits must be between 2 and the number of ratings "
                             f"({ratings.nnz}); got {self.n_splits}")
        position = np.arange(ratings.nnz)
        if self.shuffle:
            position = v.random_generator(self.random_state).permutation(ratings.nnz)
        fold = np.empty(ratings.nnz, dtype=np.min_scalar_type(self.n_splits - 1))
        fold[position] = np.arange(ratings.nnz) % self.n_splits  # sizes differ by at most one
        return (_split(ratings, fold == f) for f in range(self.n_splits))

    def __repr__(self):
        return (f"KFold(n_splits={self.n_splits}, shuffle={self.shuffle}, "
                f"random_state={self.random_state!r})")


# ---------------------------------------------------------------------- evaluation
def cross_validate(model, ratings, cv=5, metrics=("rmse", "mae"), k=10, clip=None,
                   random_state=None, exclude_seen=True, threshold=None):
    """Fit a fresh copy of ``model`` on each training fold and score its test fold.

    Parameters
    ----------
    model : ExplicitALS or ImplicitALS
        Cloned with its parameters for every fold (never modified); a Generator (or
        RandomState, SeedSequence) as its ``random_state`` is copied for each fit, so
        every fit starts from the same state.
    ratings : Ratings
    cv : int, KFold or iterable of (train, test)
        An int is ``KFold(cv, shuffle=True, random_state=random_state)``.
    metrics : sequence of str
        Names accepted by :func:`sparseals.metrics.evaluate`.
    k, clip
        Passed to :func:`sparseals.metrics.evaluate`.
    random_state : None, int, Generator, SeedSequence or RandomState
        Seeds the folds when ``cv`` is an int.
    exclude_seen, threshold
        Passed to :func:`sparseals.metrics.evaluate` (the ranking metrics): the seen
        items are each fold's training items.

    Returns
    -------
    dict
        One float64 array per metric (one value per fold) and ``fit_time`` (seconds).

    Examples
    --------
    >>> scores = cross_validate(ExplicitALS(biases=True), ratings, cv=5)  # doctest: +SKIP
    >>> scores["rmse"].mean()  # doctest: +SKIP
    """
    from .metrics import _check_options, _metric_names

    _check_model(model)
    metrics = _metric_names(metrics)
    _check_options(k, clip, exclude_seen, threshold)
    options = dict(k=k, clip=clip, exclude_seen=exclude_seen, threshold=threshold)
    results = {name: [] for name in metrics + ("fit_time",)}
    for train, test in _folds(cv, ratings, random_state):
        fitted, _, seconds = _fit_copy(model, train)
        _record(results, _score(fitted, test, metrics, options), seconds)
    return {name: np.asarray(values, dtype=np.float64) for name, values in results.items()}


class GridSearchResult:
    """What :func:`grid_search` found (built by it).

    Parameters
    ----------
    results : list of dict
        ``results_`` below.
    metric : str
        The metric optimised.
    greater_is_better : bool
        Whether the best setting has the largest mean score (else the smallest).

    Attributes
    ----------
    best_params_ : dict
        The setting with the best mean score.
    best_score_ : float
        Its mean score over the folds.
    results_ : list of dict
        For every setting, in the order tried: ``params``, ``mean_<metric>``,
        ``std_<metric>`` for each metric, and ``fit_time``.
    metric : str
        The metric optimised.
    """

    def __init__(self, results, metric, greater_is_better):
        self.results_ = results
        self.metric = metric
        pick = max if greater_is_better else min
        best = pick(results, key=lambda r: r[f"mean_{metric}"])
        self.best_params_ = best["params"]
        self.best_score_ = best[f"mean_{metric}"]

    def __repr__(self):
        return (f"GridSearchResult(best_params_={self.best_params_}, "
                f"best_score_={self.best_score_:.6g}, {len(self.results_)} settings)")


def grid_search(model, ratings, param_grid, cv=5, metric="rmse", metrics=None, k=10,
                clip=None, warm_start=False, random_state=None, verbose=False,
                exclude_seen=True, threshold=None):
    """Cross-validate every combination of ``param_grid`` and pick the best.

    Parameters
    ----------
    model : ExplicitALS or ImplicitALS
        Its parameters are the defaults; the grid's override them (it is not modified;
        a Generator as its ``random_state`` is copied for each fit, as in
        :func:`cross_validate`).
    ratings : Ratings
    param_grid : dict of str to sequence
        Parameter name → values to try; every combination is tried.
    cv : int, KFold or sequence of (train, test)
        As in :func:`cross_validate` (the same folds serve every setting).
    metric : str
        The metric that chooses the best setting; lower is better for 'rmse' and
        'mae', higher for the others.
    metrics : sequence of str, optional
        Metrics to record (``metric`` is always included).
    k, clip
        Passed to :func:`sparseals.metrics.evaluate`.
    warm_start : bool
        Start each fit from the factors of the previous setting on the same fold when
        the two differ only in the penalties and weights (``regularization``,
        ``reg_users``, ``reg_items``, ``reg_exponent``, ``alpha``,
        ``unobserved_weight``); the grid is walked so that such settings are
        neighbours. This saves iterations, but a warm-started setting's scores then
        depend on the settings before it (a model stopped before it converges keeps
        part of where it started), so the best setting found can differ from a cold
        start's. Off by default: every setting's scores are those of a fresh fit.
    random_state : None, int, Generator, SeedSequence or RandomState
        Seeds the folds when ``cv`` is an int.
    verbose : bool
        Print one line per setting.
    exclude_seen, threshold
        As in :func:`cross_validate`.

    Returns
    -------
    GridSearchResult

    Examples
    --------
    >>> grid = {"factors": [20, 50], "regularization": [0.05, 0.1]}
    >>> result = grid_search(ExplicitALS(biases=True), ratings, grid)  # doctest: +SKIP
    >>> result.best_params_  # doctest: +SKIP
    """
    from .metrics import METRICS, _check_options, _metric_names

    _check_model(model)
    _check_ratings(ratings)
    v.boolean(warm_start, "warm_start")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose from {list(METRICS)}")
    extra = () if metrics is None else _metric_names(metrics)  # a str names one metric
    metrics = _metric_names((metric,) + tuple(m for m in extra if m != metric))
    _check_options(k, clip, exclude_seen, threshold)
    options = dict(k=k, clip=clip, exclude_seen=exclude_seen, threshold=threshold)
    settings = _grid(model, param_grid)
    folds = list(_folds(cv, ratings, random_state))
    previous = [None] * len(folds)
    results = []
    for params in settings:
        scores = {name: [] for name in metrics + ("fit_time",)}
        for f, (train, test) in enumerate(folds):
            init = previous[f] if warm_start else None
            fitted, setting, seconds = _fit_copy(model, train, params, init)
            _record(scores, _score(fitted, test, metrics, options), seconds)
            previous[f] = (fitted, setting)
        row = {"params": params}
        for name in metrics:
            row[f"mean_{name}"] = float(np.mean(scores[name]))
            row[f"std_{name}"] = float(np.std(scores[name]))
        row["fit_time"] = float(np.sum(scores["fit_time"]))
        results.append(row)
        if verbose:
            shown = ", ".join(f"{name}={row[f'mean_{name}']:.4f}" for name in metrics)
            print(f"{params}: {shown} ({row['fit_time']:.1f} s)", flush=True)
    return GridSearchResult(results, metric, metric not in ("rmse", "mae"))


# ---------------------------------------------------------------------- helpers
def _check_model(model):
    from ._base import ALSBase

    if isinstance(model, type) and issubclass(model, ALSBase):
        raise TypeError(f"model must be a model instance; got the class {model.__name__} "
                        f"(call it: {model.__name__}(...))")
    if not isinstance(model, ALSBase):
        raise TypeError(f"model must be an ExplicitALS or ImplicitALS; got "
                        f"{type(model).__name__}")


def _check_ratings(ratings):
    if not isinstance(ratings, Ratings):
        raise TypeError(f"ratings must be a sparseals Ratings; got {type(ratings).__name__} "
                        "(build one with Ratings.from_coo / from_dataframe / from_sparse)")
    ratings._check_structure()


def _test_count(test_size, nnz):
    if (isinstance(test_size, bool) or not isinstance(test_size, numbers.Real)
            or not 0 < test_size < 1):
        raise ValueError(f"test_size must be a fraction strictly between 0 and 1; got "
                         f"{test_size!r}")
    n_test = int(round(test_size * nnz))
    if not 0 < n_test < nnz:
        raise ValueError(f"test_size={test_size} of {nnz} ratings leaves "
                         f"{'no test' if n_test == 0 else 'no training'} ratings; choose a "
                         "fraction that keeps at least one on each side")
    return n_test


def _timestamps(timestamps, ratings):
    stamps = v._as_1d(timestamps, "timestamps")
    if stamps.dtype.kind not in "iuf":
        raise TypeError(f"timestamps must be numbers; got dtype {stamps.dtype}")
    if len(stamps) != ratings.nnz:
        raise ValueError(f"timestamps has {len(stamps)} entries for {ratings.nnz} ratings; give "
                         "one per rating, aligned with ratings.by_user, as the readers and "
                         "Ratings.from_dataframe(..., timestamp=column) return them")
    if stamps.dtype.kind == "f" and not np.isfinite(stamps).all():
        raise ValueError("timestamps contains NaN or infinite values; drop or fill them")
    return stamps


def _by_row_then_key(counts, key):
    """Positions sorted by row (rows of ``counts`` entries each, in order), then by the
    integer ``key``, stably: row blocks stay where indptr puts them, ordered by key inside.

    Both packed into one int64 when they fit: one stable sort of almost sorted values
    (0.8 s for 20M ratings, against 7.3 s for ``np.lexsort``).
    """
    row_numbers = np.arange(len(counts), dtype=np.int64)
    high = int(key.max()) if key.dtype.kind in "iu" else None
    if high is not None and high < 1 << 62:
        key = key.astype(np.int64, copy=False)
        low = int(key.min())
        span = high - low + 1
        if len(counts) * span < 1 << 62:
            packed = np.repeat(row_numbers * span, counts)  # the only nnz-sized copy
            packed += key
            packed -= low
            return np.argsort(packed, kind="stable")
    return np.lexsort((key, np.repeat(row_numbers, counts)))  # float keys, or too wide to pack


_FLOYD_MAX_K = 32  # Floyd's sampling compares each pick with the row's earlier ones: O(k²)


def _random_subsets(rng, sizes, k):
    """``k`` distinct offsets in ``[0, size)`` for each of ``sizes`` (all ≥ k), every
    k-subset equally likely: Floyd's algorithm, vectorised over the rows. Memory and
    time O(len(sizes) · k²), against a sort of all the ratings by a random key."""
    chosen = np.empty((len(sizes), k), dtype=np.int64)
    for i in range(k):
        top = sizes - k + i
        pick = rng.integers(0, top + 1)
        taken = (chosen[:, :i] == pick[:, None]).any(axis=1)
        chosen[:, i] = np.where(taken, top, pick)
    return chosen


def _split(ratings, test_mask):
    """(train, test) Ratings of the entries of ``ratings.by_user`` outside / inside the mask."""
    return _subset(ratings, ~test_mask), _subset(ratings, test_mask)


def _subset(ratings, keep):
    rows = ratings.by_user
    starts = rows.indptr[:-1]
    nonempty = np.flatnonzero(rows.indptr[1:] > starts)
    kept = np.zeros(ratings.shape[0], dtype=np.int64)
    # rows' kept counts without an nnz-sized row index: reduceat over the non-empty rows
    kept[nonempty] = np.add.reduceat(keep, starts[nonempty], dtype=np.int64)
    indptr = np.zeros(ratings.shape[0] + 1, dtype=rows.indptr.dtype)
    np.cumsum(kept, out=indptr[1:])
    by_user = Compressed(indptr, rows.indices[keep], rows.data[keep])
    return Ratings(by_user, _transpose(by_user, ratings.shape), ratings.shape,
                   ratings.user_ids, ratings.item_ids)


def _folds(cv, ratings, random_state):
    _check_ratings(ratings)
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        return KFold(int(cv), shuffle=True, random_state=random_state).split(ratings)
    if hasattr(cv, "split"):
        return cv.split(ratings)
    try:
        return iter(cv)
    except TypeError:
        raise ValueError(f"cv must be a number of folds, a KFold or an iterable of "
                         f"(train, test) pairs; got {cv!r}") from None


def _grid(model, param_grid):
    """Every combination, ordered so that settings that may warm-start each other
    (:func:`_compatible`) are neighbours."""
    if not isinstance(param_grid, dict) or not param_grid:
        raise ValueError(f"param_grid must be a non-empty dict of parameter → list of values; "
                         f"got {param_grid!r}")
    valid = model.get_params()
    grid = {}
    for name, values in param_grid.items():
        if name not in valid:
            raise ValueError(f"param_grid names {name!r}, which {type(model).__name__} does not "
                             f"have; valid parameters are {sorted(valid)}")
        # listed once: a generator's values would be used up by the check
        listed = None if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__") \
            else list(values)
        if not listed:
            raise ValueError(f"param_grid[{name!r}] must be a non-empty list of values; "
                             f"got {values!r}")
        grid[name] = listed
    # the parameters a warm start may change vary fastest, so such runs stay together
    names = sorted(grid, key=lambda n: n in _WARM_STARTABLE)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


def _fit_copy(model, train, params=None, init=None):
    """A fresh copy of ``model`` (with ``params``) fitted on ``train``: the fitted copy, its
    setting (the parameters it was made with) and the seconds the fit took. ``init`` is the
    previous setting's ``(fitted copy, setting)`` on the same fold, to warm-start from.

    A ``random_state`` object (Generator, RandomState, SeedSequence) is copied for each
    fit: shared, the fits drew from it one after another, so a setting's scores depended on
    the settings run before it (RMSE 2.05 or 1.67 for one λ by the grid's order) and the
    caller's generator moved on.
    """
    setting = {**model.get_params(), **(params or {})}
    fresh = type(model)(**{**setting, "random_state": copy.deepcopy(setting["random_state"])})
    start = time.perf_counter()
    if init is not None and _compatible(setting, init[1]):
        fresh._fit(train, init=init[0])
    else:
        fresh.fit(train)
    return fresh, setting, time.perf_counter() - start


_WARM_STARTABLE = frozenset(("regularization", "reg_users", "reg_items", "reg_exponent", "alpha",
                             "unobserved_weight"))
"""Parameters a grid_search setting may differ in from the one it warm-starts from:
they move the optimum, not the model's shape or how long it is fitted."""


def _compatible(ours, theirs):
    """Whether a setting (its parameters, ``ours``) may start from the factors fitted with
    another (``theirs``): one that differs from it only in :data:`_WARM_STARTABLE` (the
    same setting again starts cold)."""
    differ = {name for name in ours if not _same_value(ours[name], theirs.get(name))}
    return bool(differ) and differ <= _WARM_STARTABLE


def _same_value(a, b):
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # e.g. arrays, whose == is elementwise
        return a is b


def _score(model, test, metrics, options):
    from .metrics import evaluate

    return evaluate(model, test, metrics, **options)


def _record(results, scores, seconds):
    for name, value in scores.items():
        results[name].append(value)
    results["fit_time"].append(seconds)
