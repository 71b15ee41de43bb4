"""What both ALS models share: parameters, the fit loop, scoring and recommendation."""

import inspect
import types

import numpy as np
import scipy.sparse as sp

from . import _early_stopping
from . import _validation as v
from ._threads import kernel_threads
from .ratings import Compressed, Ratings

_PREDICT_CHUNK = 1 << 16  # pairs scored at a time by predict
_TOP_N_BLOCK = (256, 256)  # users × candidates scored at a time per thread (256 KiB in float32)
_PRUNE_MIN_QUERIES = 512
"""Top-n for at least this many rows sorts the candidates by norm and stops early (exact):
the sort and the reordered copy cost about what scoring a few dozen rows does."""


def _integer_union(existing, given, name):
    """``existing`` then ``given`` in the narrowest of their integer types, int64 and uint64
    that holds every value exactly (numpy would mix int64 and uint64 into float64)."""
    if given.dtype.kind not in "iu" and not (given.dtype.kind == "O" and all(
            isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in given)):
        raise TypeError(f"ids has dtype {given.dtype}; the model's {name} are integers: give "
                        "integer ids")
    values = [int(x) for x in given.tolist()]
    low = min(values + [int(existing.min())] if len(existing) else values)
    high = max(values + [int(existing.max())] if len(existing) else values)
    for dtype in (existing.dtype, np.dtype(np.int64), np.dtype(np.uint64)):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return np.concatenate([existing.astype(dtype), np.array(values, dtype=dtype)])
    raise ValueError(f"ids from {low} to {high} do not fit one integer type with the model's "
                     f"{name}")


def _row_norms(rows):
    """Euclidean norm of each row, in float64, without a squared copy of ``rows``."""
    return np.sqrt(np.einsum("ij,ij->i", rows, rows, dtype=np.float64))


def _check_finite_rows(arrays, side, positions):
    """Raise unless the ``arrays`` (one row, or one value, per entry of ``positions``: the
    fitted rows of one ``side`` that a query reads) are finite.

    fit, save and load never leave NaN or inf in a model; factors changed after the fit
    could, and then a query returned only padding (NaN scores are never selected) and a
    fold-in NaN factors, without a word. Checked on the rows read, not the whole table.
    """
    bad = np.zeros(len(positions), dtype=bool)
    for array in arrays:
        rows = array[:, None] if array.ndim == 1 else array  # biases: one value a row
        # a row's sum is not finite when the row is not (or, rarely, when float64 values
        # near the largest overflow it): confirmed on those rows, without a table of flags
        with np.errstate(over="ignore", invalid="ignore"):
            suspect = ~np.isfinite(rows.sum(axis=1, dtype=np.float64))
        suspect[suspect] = ~np.isfinite(rows[suspect]).all(axis=1)
        bad |= suspect
    if bad.any():
        first = int(positions[np.flatnonzero(bad)[0]])
        raise ValueError(f"the model's {side} factors (or biases) at index {first} are NaN or "
                         f"infinite ({int(bad.sum())} of the {side}s this call reads): were "
                         "the fitted arrays changed after the fit? Refit, or set them to "
                         "finite values")


def _nothing_stored(matrix):
    """True for a sparse matrix without entries or a dense one whose every cell is NaN or
    masked (a masked array's mask marks missing cells too, as in Ratings.from_dense)."""
    if sp.issparse(matrix):
        return matrix.nnz == 0
    missing = np.ma.getmaskarray(matrix) if isinstance(matrix, np.ma.MaskedArray) else False
    if matrix.dtype.kind == "f":
        missing = missing | np.isnan(np.ma.getdata(matrix))
    return bool(np.all(missing))


def _distinct(indices, n):
    """The distinct values of ``indices`` (each in [0, n)), sorted: by a sort when they are
    few (a fold-in), by n flags when they are many (a partial fit of many rows: no sort of
    every entry)."""
    if 8 * len(indices) < n:
        return np.unique(indices)
    read = np.zeros(n, dtype=bool)
    read[indices] = True
    return np.flatnonzero(read)


def _referenced_rows(rows, other, referenced=None):
    """The rows of ``other`` that ``rows`` reference (fetched alone from factors left on
    a Dask cluster) and ``rows`` with column indices into them: (referenced, rows, other).
    ``referenced``: their indices, if known."""
    if referenced is None:
        referenced = _distinct(rows.indices, len(other))
    local = Compressed(rows.indptr, np.searchsorted(referenced, rows.indices).astype(np.int32),
                       rows.data)
    return referenced, local, other[referenced]


def _random_factors(rng, n_rows, k, dtype, scale=1.0, chunk_rows=1 << 14):
    """Standard normal ``n_rows × k`` factors scaled by ``scale``/√k (rows of norm about
    ``scale``), in ``dtype``.

    Drawn in float64 so that float32 and float64 fits start from the same point, but
    ``chunk_rows`` rows at a time: a whole float64 draw beside its float32 copy was the
    largest allocation of a float32 fit (3 × the factors).
    """
    factors = np.empty((n_rows, k), dtype=dtype)
    for start in range(0, n_rows, chunk_rows):
        stop = min(start + chunk_rows, n_rows)
        draw = rng.standard_normal((stop - start, k)) / np.sqrt(k)
        if scale != 1.0:
            draw *= scale
        factors[start:stop] = draw
    return factors


def value_moments(values, chunk=1 << 16):
    """The mean and the mean square of ``values``, in float64 (``chunk`` values at a time:
    a whole float64 copy of a float32 fit's ratings would be its largest allocation);
    0 and 0 for none (a Ratings without entries, whose mean was NaN)."""
    values = np.asarray(values)
    if values.size == 0:
        return 0.0, 0.0
    squares = 0.0
    for start in range(0, len(values), chunk):
        part = values[start:start + chunk].astype(np.float64)
        squares += float(part @ part)
    return float(np.mean(values, dtype=np.float64)), squares / max(len(values), 1)


class NotFittedError(ValueError, AttributeError):
    """Raised when a method needs a fitted model."""


def as_ratings(X, dtype, name="X"):
    """``X`` (Ratings, scipy.sparse or dense array with NaN for missing) as Ratings in ``dtype``."""
    if isinstance(X, Ratings):
        X._check_structure()
        return X.astype(dtype)
    if sp.issparse(X):
        return Ratings.from_sparse(X, dtype=dtype)
    if isinstance(X, np.ndarray):
        return Ratings.from_dense(X, dtype=dtype)
    raise TypeError(f"{name} must be a Ratings, a scipy.sparse matrix or a dense numpy array; "
                    f"got {type(X).__name__}")


class ALSBase:
    """Base of the ALS models (scikit-learn estimator conventions, no sklearn needed)."""

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls):
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values() if p.name != "self"]

    def get_params(self, deep=True):
        """The constructor parameters as a dict.

        Parameters
        ----------
        deep : bool
            Accepted for scikit-learn compatibility; no parameter is an estimator, so
            it changes nothing.

        Returns
        -------
        dict of str to object
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor parameters; returns ``self``.

        Parameters
        ----------
        **params
            Constructor parameters by name; an unknown name raises ValueError. They
            are checked by the next ``fit`` (or fold-in, partial fit).

        Returns
        -------
        self
        """
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}; "
                                 f"valid parameters are {valid}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        # a value equal to its default but of another type (biases=0, factors=10.0) is shown:
        # fit refuses it, where it takes the default
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if v is not defaults.get(k)
                   and not (type(v) is type(defaults.get(k)) and isinstance(v, (int, float, str))
                            and v == defaults.get(k))]
        return f"{type(self).__name__}({', '.join(changed)})"

    def _validate_common(self):
        """Checks shared by both models; returns the resolved float dtype."""
        v.positive_int(self.factors, "factors")
        dtype = v.float_dtype(self.dtype)
        self._validate_solve_params(dtype)
        v.positive_int(self.iterations, "iterations")
        v.boolean(self.warm_start, "warm_start")
        v.optional_int(self.num_threads, "num_threads")
        if self.callback is not None and not callable(self.callback):
            raise ValueError(f"callback must be callable as callback(iteration, loss); got "
                             f"{self.callback!r}")
        v.random_generator(self.random_state)
        return dtype

    def _validate_solve_params(self, dtype):
        """Checks of the parameters each row's system is solved with (λ and ν here;
        subclasses add theirs), in ``dtype``: by fit, and by the fold-ins and partial
        fits of a fitted model, which take them as they are then (``set_params`` after
        the fit may have changed them) into the kernels."""
        v.regularization(self.regularization, "regularization", dtype)
        for name in ("reg_users", "reg_items"):
            if getattr(self, name) is not None:
                v.regularization(getattr(self, name), name, dtype)
        v.non_negative_float(self.reg_exponent, "reg_exponent")

    def _check_row_penalties(self, ratings, dtype):
        """λ weighted by ``reg_exponent`` for the longest user and item fits ``dtype``."""
        n_users, n_items = ratings.shape
        # the item lengths from the users' indices when only that side is here (the stand-in
        # of a Dask DataFrame's ratings)
        item_lengths = (np.diff(ratings.by_item.indptr) if ratings.by_item is not None
                        else np.bincount(ratings.by_user.indices, minlength=n_items))
        for side, reg, lengths, n_other in (
                ("users", self._reg_users, np.diff(ratings.by_user.indptr), n_items),
                ("items", self._reg_items, item_lengths, n_users)):
            name = "regularization" if getattr(self, f"reg_{side}") is None else f"reg_{side}"
            longest = int(lengths.max(initial=0))
            v.weighted_regularization(reg, name, float(self.reg_exponent),
                                      longest + self._unobserved_weight() * n_other, dtype)

    def _unobserved_weight(self):
        """α₀, the weight of every unobserved cell in a row's penalty base (0: explicit)."""
        return 0.0

    @property
    def _reg_users(self):
        return float(self.regularization if self.reg_users is None else self.reg_users)

    @property
    def _reg_items(self):
        return float(self.regularization if self.reg_items is None else self.reg_items)

    # ------------------------------------------------------------------ fitting
    # validation metric of early stopping when fit(validation=...) names none
    _validation_metric = "rmse"

    def fit(self, X, validation=None, metric=None, patience=None):
        """Fit the factors to ``X``; returns ``self``.

        Parameters
        ----------
        X : Ratings, scipy.sparse matrix or ndarray
            Users × items. A dense array marks missing ratings with NaN.
        validation : Ratings, scipy.sparse matrix or ndarray, optional
            Held-out ratings of the same shape (and ids) as ``X``, e.g. the test part
            of :func:`sparseals.model_selection.train_test_split`. Enables early
            stopping: ``metric`` is computed on them after each iteration, the fit
            stops after ``patience`` iterations without improvement, and the best
            iteration's factors (and biases) are restored at the end.
        metric : str, optional
            With ``validation``: a name from :data:`sparseals.metrics.METRICS`
            (ranking metrics at k = 10). Default ``'rmse'`` for ExplicitALS and
            ``'ndcg'`` for ImplicitALS.
        patience : int, optional
            With ``validation``: iterations without improvement before stopping
            (default 3). ``iterations`` stays the upper bound.

        Returns
        -------
        self
            With ``validation``, also ``validation_history_`` (the metric after each
            iteration run), ``validation_metric_`` and ``best_iteration_`` (0-based
            index, in this fit, of the iteration whose factors were kept);
            ``loss_history_`` ends at that iteration, the one that led to the factors
            kept.

        Examples
        --------
        >>> import sparseals as sa
        >>> from sparseals.datasets import synthetic
        >>> from sparseals.model_selection import train_test_split
        >>> train, held = train_test_split(synthetic(300, 200, 6000, seed=0), random_state=0)
        >>> model = sa.ExplicitALS(factors=8, iterations=30, random_state=0)
        >>> model = model.fit(train, validation=held, patience=2)
        >>> len(model.validation_history_) <= 30
        True
        """
        return self._fit(X, validation=validation, metric=metric, patience=patience)

    def _fit(self, X, init=None, validation=None, metric=None, patience=None):
        """:meth:`fit`, warm-started from ``init`` when given.

        ``init`` is a fitted model of the same class, ``factors`` and ``dtype`` on a
        matrix of the same shape (``model_selection.grid_search`` passes the fit of a
        neighbouring setting); its factors and biases replace the random start.
        """
        dtype = self._validate_params()
        self._check_memory(X, dtype)
        ratings = as_ratings(X, dtype)
        ratings, resumed, history = self._prepare_fit(ratings, isinstance(X, Ratings), dtype)
        init = resumed if resumed is not None else init
        # --- early stopping (fit(validation=...)): sparseals/_early_stopping.py
        stopper = _early_stopping.start(self, ratings, validation, metric, patience)
        self.__dict__.pop("distributed_history_", None)  # a report of an earlier Dask fit
        rng = v.random_generator(self.random_state)
        self._initialise(ratings, rng, dtype)
        if init is not None:
            self._warm_start(init)
        self.loss_history_ = history
        progress = None
        if self.show_progress:
            from tqdm.auto import tqdm

            progress = tqdm(total=self.iterations, desc=f"{type(self).__name__}", unit="it")
        try:
            for iteration in range(self.iterations):
                observed = self._iterate_or_restore(ratings, iteration)
                loss = self._loss(ratings, observed)
                self.loss_history_.append(loss)
                if progress is not None:
                    progress.set_postfix(loss=f"{loss:.6g}")
                    progress.update()
                if self.callback is not None:
                    self.callback(iteration, loss)
                    self._check_state()  # it may have replaced arrays the kernels trust
                if stopper is not None and stopper.update(self, iteration):
                    break
            if stopper is not None:
                stopper.finish(self)
        finally:
            if progress is not None:
                progress.close()
        return self

    def _prepare_fit(self, ratings, given, dtype):
        """Checks of a fit's ``ratings`` (a :class:`Ratings` the caller ``given``, or built
        from a matrix) made before anything of the model changes, and what a warm start
        resumes: ``(ratings, resumed state or None, loss history)``. Shared with
        ``sparseals.distributed.fit``."""
        v.arithmetic_range(ratings.by_user.data, "ratings", dtype)
        self._check_values(ratings.by_user.data, "X")
        self._check_row_penalties(ratings, dtype)
        if not (self.warm_start and hasattr(self, "item_factors_")):
            return ratings, None, []
        resumed = self._resumable_state(ratings, dtype)
        return self._same_ids(ratings, given), resumed, list(self.loss_history_)

    def _initialise(self, ratings, rng, dtype, moments=None):
        """The fit's starting point. ``moments``: :func:`value_moments` of the ratings'
        values, for a model whose start depends on them (a model that needs them takes
        them from ``ratings`` when not given; a Dask fit's stand-in has no values)."""
        n_users, n_items = ratings.shape
        k = self.factors
        scale = self._start_scale(moments)
        self.user_factors_ = _random_factors(rng, n_users, k, dtype, scale)
        self.item_factors_ = _random_factors(rng, n_items, k, dtype, scale)
        # the structure only: a fitted model does not keep the training values alive
        self._seen = Compressed(ratings.by_user.indptr, ratings.by_user.indices, None)
        self.user_ids_ = ratings.user_ids
        self.item_ids_ = ratings.item_ids

    def _start_scale(self, moments):
        """The norm of the random starting factor rows (1: unit rows), from the ratings'
        ``moments`` (:func:`value_moments`; None when not taken)."""
        return 1.0

    _WARM_START = ("user_factors_", "item_factors_", "user_biases_", "item_biases_")

    def _resumable_state(self, ratings, dtype):
        """The fitted arrays to resume from with ``warm_start=True`` (checked to match)."""
        self._check_state()  # one side alone of another dtype was dropped without a word
        fitted = (len(self.user_factors_), len(self.item_factors_), self.user_factors_.shape[1],
                  self.user_factors_.dtype)
        wanted = (*ratings.shape, self.factors, dtype)
        if fitted != wanted:
            raise ValueError(
                f"warm_start=True resumes a fit of {fitted[0]} × {fitted[1]} ratings with "
                f"{fitted[2]} {fitted[3]} factors, but this fit has {wanted[0]} × {wanted[1]} "
                f"with {wanted[2]} {np.dtype(wanted[3]).name} factors; set warm_start=False "
                "to start afresh"
            )
        return types.SimpleNamespace(**{name: getattr(self, name, None)
                                        for name in self._WARM_START})

    def _same_ids(self, ratings, given):
        """``ratings`` with the fitted model's ids, for a warm start: a Ratings must carry
        the same ids (other users' factors were resumed without a word); a matrix is
        indexed like the model and takes its ids (they were replaced by 0..n-1)."""
        if not given:
            return Ratings(ratings.by_user, ratings.by_item, ratings.shape, self.user_ids_,
                           self.item_ids_)
        for side, theirs, mine in (("user", ratings.user_ids, self.user_ids_),
                                   ("item", ratings.item_ids, self.item_ids_)):
            if not np.array_equal(theirs, mine):
                raise ValueError(f"warm_start=True resumes the fitted {side}s, but X's {side} "
                                 f"ids differ from the model's {side}_ids_; encode X like the "
                                 "first fit's ratings, or set warm_start=False to start afresh")
        return ratings

    def _warm_start(self, init):
        """Copy ``init``'s fitted arrays over the fresh ones where shapes and dtypes agree."""
        for name in self._WARM_START:
            mine, theirs = getattr(self, name, None), getattr(init, name, None)
            if (mine is not None and theirs is not None and mine.shape == theirs.shape
                    and mine.dtype == theirs.dtype):
                mine[...] = theirs

    def save(self, path):
        """Save the fitted model to one ``.npz`` file (no pickle; see :func:`sparseals.load`).

        The write is atomic: a temporary file in the same folder replaces ``path``
        only once complete.

        Parameters
        ----------
        path : str or os.PathLike
        """
        from .persistence import save

        save(self, path)

    def _check_memory(self, X, dtype):
        """MemoryError before allocating when the fit cannot fit in the memory available."""
        from ._memory import check_fit_memory

        systems = getattr(self, "solver", None) != "cg"  # the CG forms no K × K systems
        if isinstance(X, Ratings):
            check_fit_memory(type(self).__name__, X.shape, X.nnz, self.factors, dtype,
                             ratings_to_build=False, values_to_copy=X.dtype != dtype,
                             listed=self._listed_ratings(X, dtype), systems=systems)
        elif (sp.issparse(X) or isinstance(X, np.ndarray)) and X.ndim == 2:
            nnz = X.nnz if sp.issparse(X) else X.size  # dense: at most every cell
            # what a fit lists once more is at most nnz: within the conversion's transient
            check_fit_memory(type(self).__name__, X.shape, nnz, self.factors, dtype,
                             ratings_to_build=True, values_to_copy=False, listed=nnz,
                             systems=systems)
        # anything else: as_ratings names the problem

    def _listed_ratings(self, ratings, dtype):
        """How many of ``ratings`` a fit lists once more during the fit (none here)."""
        return 0

    def _iterate_or_restore(self, ratings, iteration):
        """One iteration; on any failure or interrupt, the last completed one is restored.

        Ctrl-C (KeyboardInterrupt) in the middle of an iteration, or factors that stop
        being finite, leave the model holding the factors of the last completed
        iteration, so that ``fit`` with ``warm_start=True`` can resume from them.
        Returns what ``_iterate`` returns: the data term of the loss when the
        half-steps computed it on the way, else None (``_loss`` then computes it).
        """
        completed = {name: getattr(self, name).copy() for name in self._WARM_START
                     if getattr(self, name, None) is not None}
        try:
            observed = self._iterate(ratings)
            for name in completed:
                if not np.isfinite(getattr(self, name)).all():
                    raise FloatingPointError(
                        f"the fit diverged at iteration {iteration}: {name} is no longer "
                        f"finite; the model keeps the factors of the last finite iteration. "
                        "Increase regularization, rescale the ratings or use dtype='float64'"
                    )
        except BaseException:
            for name, array in completed.items():
                getattr(self, name)[...] = array
            raise
        return observed

    # ------------------------------------------------------------------ scoring
    def _check_fitted(self):
        if not hasattr(self, "item_factors_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")
        self._check_state()

    def _check_state(self):
        """Raise unless the fitted arrays agree with each other (checks of O(1) cost; the
        seen items' extent is found once, when they are set).

        The kernels index one side's factors with the other's and with the seen items:
        an attribute replaced by one of another shape, dtype or byte order would be read
        out of bounds or fail inside numba.
        """
        users = self.user_factors_
        dtype = getattr(users, "dtype", None)
        k = getattr(users, "shape", (0, 0))[-1]
        for side, n in (("user", len(self.user_ids_)), ("item", len(self.item_ids_))):
            for name, expected in ((f"{side}_factors_", (n, k)), (f"{side}_biases_", (n,))):
                array = getattr(self, name, None)
                if array is None and name.endswith("_biases_"):
                    continue
                shape, kind = getattr(array, "shape", None), getattr(array, "dtype", None)
                if (shape != expected or k < 1 or kind != dtype
                        or kind not in (np.float32, np.float64)):
                    raise ValueError(
                        f"the model's {name} has shape {shape} and dtype {kind}; expected "
                        f"{expected} (one row per id in {side}_ids_) and the dtype of "
                        f"user_factors_, native float32 or float64: were the fitted arrays "
                        "replaced after the fit?")
        if len(self._seen.indptr) != len(self.user_ids_) + 1:
            raise ValueError(f"the model holds seen items for {len(self._seen.indptr) - 1} users "
                             f"but {len(self.user_ids_)} user ids: were the fitted arrays "
                             "replaced after the fit?")
        n_seen_items = self._seen_state[1]
        if n_seen_items > len(self.item_ids_):
            raise ValueError(f"the model's seen items reach item index {n_seen_items - 1} but it "
                             f"has {len(self.item_ids_)} item ids: were the fitted arrays "
                             "replaced after the fit?")

    @property
    def _seen(self):
        """The training users × items structure (a :class:`Compressed` without values)
        that ``recommend(exclude_seen=True)`` and the ranking metrics exclude."""
        try:
            return self._seen_state[0]
        except AttributeError:
            raise AttributeError(f"this {type(self).__name__} holds no seen items: it is not "
                                 "fitted") from None

    @_seen.setter
    def _seen(self, seen):
        # checked once here, by one pass over the entries, and kept with the number of items
        # they span: the kernels read them as item indices, and _check_state compares that
        # number with the item count at O(1) per query (item arrays replaced later)
        indptr, indices = seen.indptr, seen.indices
        if (len(indptr) < 1 or indptr[0] != 0 or indptr[-1] != len(indices)
                or np.any(np.diff(indptr) < 0) or (len(indices) and indices.min() < 0)):
            raise ValueError("the seen items are not a valid structure: offsets must rise from "
                             "0 to the number of entries, and item indices be non-negative")
        self._seen_state = (seen, int(indices.max()) + 1 if len(indices) else 0)

    def __setstate__(self, state):
        """Restore a pickled (or copied) model, migrating the older form of its state.

        A model pickled before ``_seen`` became a property holds the seen items in its
        ``__dict__`` under ``_seen``, which the property hides: every query then said
        "not fitted". They go through the property's setter instead (checked there).
        """
        state = dict(state)
        seen = state.pop("_seen", None)
        self.__dict__.update(state)
        if seen is not None:
            self._seen = seen

    def _indices(self, ids, name, size, what):
        """``ids`` as indices of ``what`` ('users' / 'items'): positions in the fitted
        factors, not the original ids, which the messages point to."""
        hint = f"; the model's {what[:-1]}_ids_[index] is the original id of each index"
        array = v.id_array(np.atleast_1d(ids), name, hint)
        v.ids_in_range(array, name, size, what, hint)
        # callers compute with them (users + 1 in int8 wrapped 127 to -128)
        return array.astype(np.intp, copy=False)

    def _scoring_factors(self, side, rows=slice(None)):
        """Rows of the factors whose dot products give full scores (biases folded in by
        subclasses); only the rows asked for are copied."""
        return (self.user_factors_ if side == "user" else self.item_factors_)[rows]

    def _score_offset(self):
        return 0.0

    def predict(self, users, items):
        """Predicted scores for (user, item) pairs, given as indices into the fitted matrix.

        Parameters
        ----------
        users, items : int or array_like of int
            User and item indices, one pair per position (of the same length).

        Returns
        -------
        ndarray or float
            One score per pair (a float when both arguments are scalars).

        Examples
        --------
        >>> import numpy as np, sparseals as sa
        >>> Y = np.array([[5.0, np.nan, 1.0], [4.0, 2.0, np.nan]])  # NaN: not rated
        >>> model = sa.ExplicitALS(factors=2, iterations=3, random_state=0).fit(Y)
        >>> model.predict([0, 1, 1], [1, 0, 2]).shape, type(model.predict(0, 1))
        ((3,), <class 'float'>)
        """
        self._check_fitted()
        scalar = np.ndim(users) == 0 and np.ndim(items) == 0
        u = self._indices(users, "users", len(self.user_factors_), "users")
        i = self._indices(items, "items", len(self.item_factors_), "items")
        v.same_length([u, i], ["users", "items"])
        scores = np.empty(len(u), dtype=self.user_factors_.dtype)
        # by chunks: gathering every pair's factor rows at once took pairs × K × 8 bytes
        for start in range(0, len(u), _PREDICT_CHUNK):
            part = slice(start, start + _PREDICT_CHUNK)
            scores[part] = np.einsum("ij,ij->i", self._scoring_factors("user", u[part]),
                                     self._scoring_factors("item", i[part]))
        scores += self._score_offset()
        return float(scores[0]) if scalar else scores

    def recommend(self, users, n=10, exclude_seen=True, items=None):
        """The ``n`` best items for each user, best first.

        Parameters
        ----------
        users : int or array_like of int
            User indices into the fitted matrix.
        n : int
            Items per user (capped at the number of candidates).
        exclude_seen : bool
            Leave out the items the user rated in the training data.
        items : array_like of int, optional
            Restrict the candidates to these item indices.

        Returns
        -------
        items, scores : ndarray
            Item indices (int32; ``item_ids_[items]`` are the original ids) and their
            scores (in the factors' dtype), 1-D for a single user, ``(n_users, n)`` for
            several. Where exclusions leave fewer than ``n`` candidates, the rest is
            padded with item −1 and score −inf. Equal scores are ranked by the lower
            item index. The scores come from BLAS products over blocks of users and
            items, whose rounding can depend on a score's place in the block: a user's
            scores may differ in the last bit between calls with other users or other
            ``items=``, and from :meth:`predict`; two items with identical factors
            (items with identical ratings get them) may then differ by rounding and
            come in either order. Items whose score is NaN or −inf (non-finite factors
            set after the fit) are never returned.

        Raises
        ------
        ValueError
            A given user's factors (or bias) are NaN or infinite (changed after the
            fit, which never leaves them so).

        Examples
        --------
        >>> import scipy.sparse as sp, sparseals as sa
        >>> X = sp.random(30, 20, density=0.3, format="csr", random_state=0)
        >>> model = sa.ExplicitALS(factors=3, random_state=0).fit(X)
        >>> items, scores = model.recommend(0, n=5)
        >>> items.shape, bool(set(items) & set(X[[0]].indices))  # unseen items only
        ((5,), False)
        >>> model.recommend([0, 1, 2], n=5, items=[1, 2, 3, 4, 5, 6, 7, 8])[0].shape
        (3, 5)
        """
        self._check_fitted()
        v.boolean(exclude_seen, "exclude_seen")
        single = np.ndim(users) == 0
        users = self._indices(users, "users", len(self.user_factors_), "users")
        n = v.positive_int(n, "n")
        n_items = len(self.item_factors_)
        if items is None:
            candidates = np.arange(n_items, dtype=np.int32)
        else:
            candidates = np.unique(self._indices(items, "items", n_items, "items")).astype(np.int32)
        n = min(n, len(candidates))
        if exclude_seen:
            seen = self._seen
            exclusions = (seen.indptr[users], seen.indptr[users + 1], seen.indices)
        else:  # empty ranges for the users asked about, not offsets for every fitted user
            nothing = np.zeros(len(users), dtype=np.int32)
            exclusions = (nothing, nothing, np.zeros(0, dtype=np.int32))
        # the item factors as they are (gathered only when items= picks some), not a copy
        # widened by the biases (1M items at K = 128: 0.5-1 GB per call); the biases, if
        # any, are added to the scores instead, the same way for any number of users
        row_offset, column_bias = self._bias_terms(users) or (None, None)
        query = self.user_factors_[users]
        _check_finite_rows([query] if row_offset is None else [query, row_offset], "user",
                           users)
        factors = self.item_factors_
        if items is not None:
            factors = factors[candidates]
            column_bias = None if column_bias is None else column_bias[candidates]
        result = self._top_n(query, factors, candidates, *exclusions,
                             n_items, n, row_offset, column_bias=column_bias)
        return (result[0][0], result[1][0]) if single else result

    def _bias_terms(self, users):
        """``(per-user score offset, per-item bias)`` of a model with biases, else None."""
        return None

    def similar_items(self, items, n=10):
        """The ``n`` items most similar to each given item (cosine of the factors), best first.

        The item itself is left out. An item whose factors are zero (one without
        ratings), or whose norm is below the dtype's smallest normal number, has cosine
        0 with every other item. A given item whose factors are NaN or infinite
        is an error (as in :meth:`recommend`); other such items never appear.

        Parameters
        ----------
        items : int or array_like of int
            Item indices into the fitted matrix.
        n : int
            Similar items per given item (capped at the number of other items).

        Returns
        -------
        items, scores : ndarray
            Shaped as in :meth:`recommend`: 1-D for a single item, ``(len(items), n)``
            for several.

        Examples
        --------
        >>> from sparseals import ImplicitALS
        >>> from sparseals.datasets import synthetic
        >>> model = ImplicitALS(factors=4, iterations=3).fit(synthetic(40, 30, 300, implicit=True))
        >>> items, cosines = model.similar_items(4, n=3)
        >>> len(items), 4 in items, bool(cosines.max() <= 1.0001)
        (3, False, True)
        """
        self._check_fitted()
        return self._similar(self.item_factors_, items, n, "items")

    def similar_users(self, users, n=10):
        """The ``n`` users most similar to each given user (cosine of the factors), best first.

        Parameters
        ----------
        users, n
            As ``items`` and ``n`` of :meth:`similar_items`, for users.

        Returns
        -------
        users, scores : ndarray
            As in :meth:`similar_items`.
        """
        self._check_fitted()
        return self._similar(self.user_factors_, users, n, "users")

    def _similar(self, factors, ids, n, what):
        factors = np.asarray(factors)  # factors left on a cluster: gathered once, not thrice
        single = np.ndim(ids) == 0
        ids = self._indices(ids, what, len(factors), what)
        n = min(v.positive_int(n, "n"), len(factors) - 1)
        if n < 1:
            raise ValueError(f"there is only one of the {what}: nothing to compare with")
        query = factors[ids]
        _check_finite_rows([query], what[:-1], ids)
        # cosines as dot products scaled by the inverse norms, in the kernel: not a
        # normalised copy of every factor row per call
        norms = _row_norms(factors)
        # a row whose norm is below the dtype's smallest normal number counts as a zero row
        # (cosine 0 with every other): 1/norm of a smaller one overflowed float32 to inf,
        # and its scores to NaN or ±inf
        usable = norms >= np.finfo(factors.dtype).tiny
        inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=usable)
        inverse = inverse.astype(factors.dtype)
        everyone = np.arange(len(factors), dtype=np.int32)
        starts = np.arange(len(ids))
        result = self._top_n(query * inverse[ids, None], factors, everyone, starts,
                             starts + 1, ids.astype(np.int32), len(factors), n, row_offset=0.0,
                             column_scale=inverse)
        return (result[0][0], result[1][0]) if single else result

    def _top_n(self, query, candidate_factors, candidates, exclude_start, exclude_end,
               exclude_indices, n_labels, n, row_offset=None, column_scale=None,
               column_bias=None):
        """Top ``n`` of (query · candidates) × ``column_scale`` + ``column_bias`` (neither
        by default; a column scale turns pruning off) + the model's score offset, or
        ``row_offset`` (a number or one per query row)."""
        import numba

        from ._kernels.topk import score_scratch, score_top_n

        query_norms = column_bounds = bias_bounds = np.empty(0)
        prune = len(query) >= _PRUNE_MIN_QUERIES and column_scale is None
        column_scale, column_bias = (np.empty(0, dtype=query.dtype) if c is None else c
                                     for c in (column_scale, column_bias))
        if prune:
            # exact pruning (see score_top_n): candidates by decreasing norm, so that
            # the long tail of small-norm items is never scored once the heaps are good
            norms = _row_norms(candidate_factors)
            order = np.argsort(-norms, kind="stable")
            candidates, candidate_factors = candidates[order], candidate_factors[order]
            column_bounds = np.append(norms[order], 0.0)
            query_norms = _row_norms(query)
            if len(column_bias):
                column_bias = column_bias[order]
                largest_after = np.maximum.accumulate(column_bias[::-1].astype(np.float64))
                bias_bounds = np.append(largest_after[::-1], -np.inf)
        column_of = np.full(n_labels, -1, dtype=np.int32)
        column_of[candidates] = np.arange(len(candidates), dtype=np.int32)
        out_items = np.empty((len(query), n), dtype=np.int32)
        out_scores = np.empty((len(query), n), dtype=query.dtype)
        row_offset = self._score_offset() if row_offset is None else row_offset
        row_offset = np.broadcast_to(np.asarray(row_offset, dtype=query.dtype), len(query))
        user_block, item_block = _TOP_N_BLOCK
        # numba thread ids may range over the whole pool, whatever the count in use
        scratch = score_scratch(numba.config.NUMBA_NUM_THREADS, user_block, item_block,
                                query.dtype)
        with kernel_threads(self.num_threads):
            score_top_n(np.ascontiguousarray(query), np.ascontiguousarray(candidate_factors),
                        np.ascontiguousarray(row_offset), np.ascontiguousarray(column_scale),
                        np.ascontiguousarray(column_bias),
                        candidates, exclude_start, exclude_end, exclude_indices, column_of, n,
                        out_items, out_scores, user_block, item_block, scratch, query_norms,
                        column_bounds, bias_bounds)
        return out_items, out_scores

    # ------------------------------------------------------------------ incremental updates
    # Subclasses provide ``_solve_rows(side, rows, target, target_bias)``: an exact solve of
    # each row's system with the other side fixed, and ``_check_values(data, name)``.
    def partial_fit_users(self, users, rows, ids=None):
        """Recompute (or add) the factors of some users from their interactions, items fixed.

        Each given user's factors are solved afresh from ``rows`` (the same exact
        per-row system a user half-step solves; the item factors do not change),
        and ``rows`` replaces that user's seen items for :meth:`recommend`. An
        index past the last user adds users: the factor matrix grows to it (by at
        most as many rows as are given), and users skipped over get zero factors.
        The systems take the parameters as they are now (``set_params`` after the
        fit applies), checked as ``fit`` checks them. Read-only fitted arrays
        (memory-mapped, or ``setflags(write=False)``) are not written to: the model
        gets updated copies.

        Parameters
        ----------
        users : int or array_like of int
            User indices (each at most once).
        rows : scipy.sparse matrix or ndarray, shape (len(users), n_items)
            The users' complete interactions, one row per user, in the training
            format (a dense array marks missing cells with NaN, or a masked array
            with its mask); a row with none gives zero factors.
        ids : array_like, optional
            The original ids (``user_ids_``) of the users this call adds, in index
            order, the skipped-over ones included; new ids, of the same kind as the
            model's. Default: with integer ids, the next integers after the largest
            one; other kinds of ids (text, dates) must be given.

        Returns
        -------
        self

        Raises
        ------
        TypeError
            The user factors are still on a Dask cluster
            (``sparseals.distributed.fit(..., gather=False)``): bring them to the
            client first, ``model.user_factors_ = model.user_factors_.gather()``.
            :meth:`partial_fit_items` works on such a model (it only reads them,
            fetching the rows its columns reference).

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp, sparseals as sa
        >>> X = sp.random(30, 20, density=0.3, format="csr", random_state=0)
        >>> model = sa.ExplicitALS(factors=3, iterations=2, random_state=0).fit(X)
        >>> new = sp.csr_matrix(([4.0, 5.0], ([0, 0], [2, 7])), shape=(1, 20))
        >>> model.partial_fit_users(30, new).user_factors_.shape
        (31, 3)
        """
        return self._partial_fit("user", users, rows, ids)

    def partial_fit_items(self, items, cols, ids=None):
        """Recompute (or add) the factors of some items from their interactions, users fixed.

        The mirror of :meth:`partial_fit_users`, for items.

        Parameters
        ----------
        items : int or array_like of int
            Item indices (each at most once); an index past the last item adds items.
        cols : scipy.sparse matrix or ndarray, shape (n_users, len(items))
            The items' complete interactions, one column per item, in the training
            format; they replace these items in the seen items used by
            :meth:`recommend`.
        ids : array_like, optional
            The original ids (``item_ids_``) of the items this call adds, as in
            :meth:`partial_fit_users`.

        Returns
        -------
        self
        """
        return self._partial_fit("item", items, cols, ids)

    def _partial_fit(self, side, ids, matrix, new_ids):
        self._check_fitted()
        if not isinstance(getattr(self, f"{side}_factors_"), np.ndarray):
            # refitting rows failed on writing them, adding rows gathered the whole matrix
            # to replace it: neither is a partial fit of the rows on the cluster
            raise TypeError(f"the {side} factors are still on the cluster "
                            "(sparseals.distributed.fit with gather=False); partial_fit_"
                            f"{side}s changes them: first bring them to the client with "
                            f"model.{side}_factors_ = model.{side}_factors_.gather()")
        self._validate_solve_params(self.user_factors_.dtype)
        what = f"{side}s"
        arg = "rows" if side == "user" else "cols"
        ids = v.id_array(np.atleast_1d(ids), what)
        if ids.size == 0:
            raise ValueError(f"{what} is empty: give at least one index")
        if len(np.unique(ids)) < len(ids):
            raise ValueError(f"{what} contains repeated indices; give each of the {what} once")
        factors = getattr(self, f"{side}_factors_")
        v.ids_in_range(ids, what, len(factors) + len(ids), f"{what} (new {what} continue the "
                       f"index from {len(factors)}, at most one new index per given row)")
        all_ids = self._added_ids(side, int(ids.max()) + 1 - len(factors), new_ids)
        dtype = factors.dtype
        n_other = len(self.item_factors_ if side == "user" else self.user_factors_)
        expected = (len(ids), n_other) if side == "user" else (n_other, len(ids))
        if not (sp.issparse(matrix) or isinstance(matrix, np.ndarray)):
            raise TypeError(f"{arg} must be a scipy.sparse matrix or a dense numpy array; got "
                            f"{type(matrix).__name__}")
        if matrix.shape != expected:
            raise ValueError(f"{arg} has shape {matrix.shape}; expected {expected} (one "
                             f"{'row' if side == 'user' else 'column'} per given {side}, "
                             f"one {'column' if side == 'user' else 'row'} per fitted "
                             f"{'item' if side == 'user' else 'user'})")
        if _nothing_stored(matrix):
            interactions = Compressed(np.zeros(len(ids) + 1, dtype=np.int32),
                                      np.zeros(0, dtype=np.int32), np.zeros(0, dtype=dtype))
        else:
            ratings = as_ratings(matrix, dtype, name=arg)
            interactions = ratings.by_user if side == "user" else ratings.by_item
        self._check_values(interactions.data, arg)
        target = np.zeros((len(ids), factors.shape[1]), dtype=dtype)
        bias = getattr(self, f"{side}_biases_", None)
        target_bias = None if bias is None else np.zeros(len(ids), dtype=dtype)
        self._solve_rows(side, interactions, target, target_bias)
        self._grow(side, all_ids)
        getattr(self, f"{side}_factors_")[ids] = target
        if target_bias is not None:
            getattr(self, f"{side}_biases_")[ids] = target_bias
        self._replace_seen(side, ids, interactions)
        return self

    def _added_ids(self, side, count, given):
        """All the ids of one side once a partial fit adds ``count`` rows (None: none added):
        ``given``, or with integer ids the next integers after the largest, in an integer
        type that holds them all."""
        existing = getattr(self, f"{side}_ids_")
        count = max(count, 0)
        generated = given is None
        if generated:
            if count == 0:
                return None
            if existing.dtype.kind not in "iu":
                raise ValueError(
                    f"this call adds {count} {side}(s), and the model's {side} ids are "
                    f"{existing.dtype} (not integers): give their ids with ids= (one per "
                    f"added {side}, in index order)")
            start = int(existing.max()) + 1 if len(existing) else 0
            given = list(range(start, start + count))
        given = np.atleast_1d(given)  # a scalar names one added row, as users= may be one
        if given.ndim != 1:
            raise ValueError(f"ids must be a list or 1-D array of ids, one per added {side}; "
                             f"got shape {given.shape}")
        if len(given) != count:
            raise ValueError(f"ids has {given.size} entries; this call adds {count} "
                             f"{side}(s) (indices {len(existing)}.. of the new ones, the "
                             "skipped-over ones included)")
        if existing.dtype.kind in "iu":
            ids = _integer_union(existing, given, f"{side} ids")
        else:
            kind = existing.dtype.kind
            if kind in "UO":  # text, or (from_dataframe) one kind of Python object
                kinds = {type(x) for x in existing.tolist()} if kind == "O" else {str}
                same = {type(x) for x in given.tolist()} <= kinds
            else:
                same = given.dtype.kind == kind
            if not same:
                raise TypeError(f"ids has dtype {given.dtype}; the model's {side} ids are "
                                f"{existing.dtype}: give ids of the same kind")
            if kind in "fmM" and np.isnan(given).any():  # NaT included
                raise ValueError(f"ids contains missing values ({given.tolist()})")
            ids = np.concatenate([existing, given])
        if not generated and len(np.unique(ids)) < len(ids):  # generated ids are new
            raise ValueError(f"ids must be new {side} ids, each once; some are repeated or "
                             f"already in {side}_ids_")
        return ids

    def _grow(self, side, ids):
        """Append rows to one side's fitted arrays (zero factors); ``ids``: all its ids.

        Without rows to add (``ids`` None), a read-only array (memory-mapped, or
        ``setflags(write=False)``) is replaced by a writable copy, as the appended
        arrays are new ones: a partial fit writes its rows into them, never into memory
        the caller marked read-only.
        """
        if ids is None:
            for name in (f"{side}_factors_", f"{side}_biases_"):
                array = getattr(self, name, None)
                if array is not None and not array.flags.writeable:
                    setattr(self, name, np.array(array))
            return
        factors = getattr(self, f"{side}_factors_")
        extra = len(ids) - len(factors)
        setattr(self, f"{side}_factors_",
                np.vstack([factors, np.zeros((extra, factors.shape[1]), dtype=factors.dtype)]))
        bias = getattr(self, f"{side}_biases_", None)
        if bias is not None:
            setattr(self, f"{side}_biases_", np.concatenate([bias, np.zeros(extra, bias.dtype)]))
        setattr(self, f"{side}_ids_", ids)

    def _replace_seen(self, side, ids, interactions):
        """Replace the given users' rows (items' columns) of the seen structure.

        One pass of array operations over the stored entries, no sort: a model
        serving online updates calls this once per :meth:`partial_fit_users`.
        """
        seen = self._seen
        n_users = len(self.user_factors_)
        old_counts = np.diff(seen.indptr)
        new_owner = ids[np.repeat(np.arange(len(ids)), np.diff(interactions.indptr))]
        if side == "user":
            replaced = np.zeros(len(old_counts), dtype=bool)
            replaced[ids[ids < len(old_counts)]] = True
            dropped = np.repeat(replaced, old_counts)
            new_rows, new_cols = new_owner, interactions.indices
        else:
            replaced = np.zeros(len(self.item_factors_), dtype=bool)
            replaced[ids] = True
            dropped = replaced[seen.indices]
            new_rows, new_cols = interactions.indices, new_owner
        dropped_rows = np.searchsorted(seen.indptr, np.flatnonzero(dropped), side="right") - 1
        kept_counts = np.zeros(n_users, dtype=np.int64)
        kept_counts[:len(old_counts)] = old_counts
        kept_counts -= np.bincount(dropped_rows, minlength=n_users)
        added_counts = np.bincount(new_rows, minlength=n_users)
        # each row: its kept entries in their old order, then its new ones
        holds_kept = np.repeat(np.tile([True, False], n_users),
                               np.column_stack([kept_counts, added_counts]).ravel())
        indices = np.empty(len(holds_kept), dtype=np.int32)
        indices[holds_kept] = seen.indices[~dropped]
        indices[~holds_kept] = new_cols[np.argsort(new_rows, kind="stable")]
        index_type = np.int32 if len(indices) <= v.INT32_MAX else np.int64
        indptr = np.zeros(n_users + 1, dtype=index_type)
        np.cumsum(kept_counts + added_counts, out=indptr[1:])
        self._seen = Compressed(indptr, indices, None)

    def _fold_in_row(self, items, values):
        """A validated one-row Compressed from a new user's item indices and values."""
        dtype = self.item_factors_.dtype
        items = self._indices(items, "items", len(self.item_factors_), "items")
        values = v.value_array(np.atleast_1d(values), "values", dtype)
        v.same_length([items, values], ["items", "values"])
        if len(np.unique(items)) < len(items):
            raise ValueError("items contains repeated item indices; give each item once")
        self._check_values(values, "values")  # in the caller's order, which its message counts
        order = np.argsort(items, kind="stable")
        return Compressed(np.array([0, len(items)], dtype=np.int32),
                          items[order].astype(np.int32), values[order])

    def _check_values(self, data, name):
        """Checks of interaction values: by default, that the normal equations hold them
        (as fit checks); subclasses add their own."""
        v.arithmetic_range(data, name, data.dtype)
