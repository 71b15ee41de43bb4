"""What both ALS models share: parameters, the fit loop, scoring and recommendation."""

import inspect
import numbers

import numpy as np
import scipy.sparse as sp

from . import _validation as v
from ._threads import kernel_threads
from .ratings import Compressed, Ratings

_SCORE_BLOCK = 1 << 22  # scores computed per batch: users × candidates ≤ 4M entries


class NotFittedError(ValueError, AttributeError):
    """Raised when a method needs a fitted model."""


def as_ratings(X, dtype, name="X"):
    """``X`` (Ratings, scipy.sparse or dense array with NaN for missing) as Ratings in ``dtype``."""
    if isinstance(X, Ratings):
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
        """The constructor parameters as a dict."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor parameters; returns ``self``."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}; "
                                 f"valid parameters are {valid}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if v is not defaults.get(k)
                   and not (isinstance(v, (int, float, str)) and v == defaults.get(k))]
        return f"{type(self).__name__}({', '.join(changed)})"

    def _validate_common(self):
        """Checks shared by both models; returns the resolved float dtype."""
        v.positive_int(self.factors, "factors")
        v.non_negative_float(self.regularization, "regularization")
        for name in ("reg_users", "reg_items"):
            if getattr(self, name) is not None:
                v.non_negative_float(getattr(self, name), name)
        v.non_negative_float(self.reg_exponent, "reg_exponent")
        v.positive_int(self.iterations, "iterations")
        v.optional_int(self.num_threads, "num_threads")
        if self.callback is not None and not callable(self.callback):
            raise ValueError(f"callback must be callable as callback(iteration, loss); got "
                             f"{self.callback!r}")
        if not (self.random_state is None or isinstance(self.random_state, (numbers.Integral,
                np.random.Generator, np.random.SeedSequence))) or isinstance(self.random_state, bool):
            raise ValueError(f"random_state must be None, an int, a numpy Generator or "
                             f"SeedSequence; got {self.random_state!r}")
        return v.float_dtype(self.dtype)

    @property
    def _reg_users(self):
        return float(self.regularization if self.reg_users is None else self.reg_users)

    @property
    def _reg_items(self):
        return float(self.regularization if self.reg_items is None else self.reg_items)

    # ------------------------------------------------------------------ fitting
    def fit(self, X):
        """Fit the factors to ``X``; returns ``self``.

        Parameters
        ----------
        X : Ratings, scipy.sparse matrix or ndarray
            Users × items. A dense array marks missing ratings with NaN.

        Returns
        -------
        self
        """
        dtype = self._validate_params()
        ratings = as_ratings(X, dtype)
        rng = np.random.default_rng(self.random_state)
        self._initialise(ratings, rng, dtype)
        self.loss_history_ = []
        progress = None
        if self.show_progress:
            from tqdm.auto import tqdm

            progress = tqdm(total=self.iterations, desc=f"{type(self).__name__}", unit="it")
        try:
            for iteration in range(self.iterations):
                self._iterate(ratings)
                self._check_finite(iteration)
                loss = self._loss(ratings)
                self.loss_history_.append(loss)
                if progress is not None:
                    progress.set_postfix(loss=f"{loss:.6g}")
                    progress.update()
                if self.callback is not None:
                    self.callback(iteration, loss)
        finally:
            if progress is not None:
                progress.close()
        return self

    def _initialise(self, ratings, rng, dtype):
        n_users, n_items = ratings.shape
        k = self.factors
        # drawn in float64 so that float32 and float64 fits start from the same point
        self.user_factors_ = (rng.standard_normal((n_users, k)) / np.sqrt(k)).astype(dtype)
        self.item_factors_ = (rng.standard_normal((n_items, k)) / np.sqrt(k)).astype(dtype)
        self._seen = ratings.by_user
        self.user_ids_ = ratings.user_ids
        self.item_ids_ = ratings.item_ids

    def _check_finite(self, iteration):
        for name in ("user_factors_", "item_factors_"):
            if not np.isfinite(getattr(self, name)).all():
                raise FloatingPointError(
                    f"the fit diverged at iteration {iteration}: {name} is no longer finite. "
                    "Increase regularization, rescale the ratings or use dtype='float64'"
                )

    # ------------------------------------------------------------------ scoring
    def _check_fitted(self):
        if not hasattr(self, "item_factors_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def _indices(self, ids, name, size, what):
        array = v.id_array(np.atleast_1d(ids), name)
        v.ids_in_range(array, name, size, what)
        return array

    def _scoring_factors(self, side):
        """Factors whose dot products give full scores (biases folded in by subclasses)."""
        return self.user_factors_ if side == "user" else self.item_factors_

    def _score_offset(self):
        return 0.0

    def predict(self, users, items):
        """Predicted scores for (user, item) pairs, given as indices into the fitted matrix.

        Returns
        -------
        ndarray or float
            One score per pair (a float when both arguments are scalars).
        """
        self._check_fitted()
        scalar = np.ndim(users) == 0 and np.ndim(items) == 0
        u = self._indices(users, "users", len(self.user_factors_), "users")
        i = self._indices(items, "items", len(self.item_factors_), "items")
        v.same_length([u, i], ["users", "items"])
        scores = np.einsum("ij,ij->i", self._scoring_factors("user")[u],
                           self._scoring_factors("item")[i]) + self._score_offset()
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
            1-D for a single user, ``(n_users, n)`` for several. Where exclusions leave
            fewer than ``n`` candidates, the rest is padded with item −1 and score −inf.
            Ties are broken by the lower item index.
        """
        self._check_fitted()
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
            excluded = self._seen
        else:
            excluded = Compressed(np.zeros(len(self.user_factors_) + 1, dtype=np.int32),
                                  np.zeros(0, dtype=np.int32), None)
        query = self._scoring_factors("user")[users]
        result = self._top_n(query, self._scoring_factors("item")[candidates], candidates,
                             excluded.indptr[users], excluded.indptr[users + 1], excluded.indices,
                             n_items, n)
        return (result[0][0], result[1][0]) if single else result

    def similar_items(self, items, n=10):
        """The ``n`` items most similar to each given item (cosine of the factors), best first.

        The item itself is left out. Returns ``(items, scores)`` shaped as in
        :meth:`recommend`.
        """
        self._check_fitted()
        return self._similar(self.item_factors_, items, n, "items")

    def similar_users(self, users, n=10):
        """The ``n`` users most similar to each given user (cosine of the factors), best first."""
        self._check_fitted()
        return self._similar(self.user_factors_, users, n, "users")

    def _similar(self, factors, ids, n, what):
        single = np.ndim(ids) == 0
        ids = self._indices(ids, what, len(factors), what)
        n = min(v.positive_int(n, "n"), len(factors) - 1)
        if n < 1:
            raise ValueError(f"there is only one of the {what}: nothing to compare with")
        norms = np.linalg.norm(factors, axis=1)
        normalised = factors / np.where(norms > 0, norms, 1)[:, None]
        everyone = np.arange(len(factors), dtype=np.int32)
        starts = np.arange(len(ids))
        result = self._top_n(normalised[ids], normalised, everyone, starts, starts + 1,
                             ids.astype(np.int32), len(factors), n)
        return (result[0][0], result[1][0]) if single else result

    def _top_n(self, query, candidate_factors, candidates, exclude_start, exclude_end,
               exclude_indices, n_labels, n):
        from ._kernels.topk import top_n

        column_of = np.full(n_labels, -1, dtype=np.int32)
        column_of[candidates] = np.arange(len(candidates), dtype=np.int32)
        out_items = np.empty((len(query), n), dtype=np.int32)
        out_scores = np.empty((len(query), n), dtype=query.dtype)
        batch = max(1, _SCORE_BLOCK // max(1, len(candidates)))
        offset = self._score_offset()
        with kernel_threads(self.num_threads, blas=True):
            for start in range(0, len(query), batch):
                stop = min(start + batch, len(query))
                scores = query[start:stop] @ candidate_factors.T
                if offset:
                    scores += offset
                top_n(scores, candidates, exclude_start[start:stop], exclude_end[start:stop],
                      exclude_indices, column_of, n, out_items[start:stop], out_scores[start:stop])
        return out_items, out_scores
