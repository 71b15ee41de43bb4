"""The public models: :class:`ExplicitALS` and :class:`ImplicitALS`."""

import numpy as np

from . import _validation as v
from ._base import ALSBase, _check_finite_rows, _distinct, _referenced_rows, value_moments
from ._threads import kernel_threads
from .solvers import (_CONFIDENCES, _IMPLICIT_SOLVERS, _check_confidence_values,
                      _confidence_terms, _dense_explicit_step, _explicit_step, _implicit_step,
                      _plan_long_rows)


_OTHER_SIDE = {"user": "item", "item": "user"}



class ExplicitALS(ALSBase):
    """Matrix factorisation of explicit ratings by alternating least squares.

    Minimises ``Σ_observed (r_ij − ŷ_ij)² + λ_u Σ_i n_i^ν ‖u_i‖² + λ_m Σ_j n_j^ν ‖v_j‖²``
    with ``ŷ_ij = u_i · v_j`` (``+ μ + b_i + c_j`` with ``biases=True``), each
    half-step solving one small exact system per user (then per item) over that
    row's observed ratings only. A fully observed matrix takes a fast path that
    shares one Gram matrix between all rows.

    Parameters
    ----------
    factors : int
        K, the number of latent factors.
    regularization : float
        λ for both sides (``reg_users`` / ``reg_items`` override one side).
    reg_users, reg_items : float, optional
        λ_u and λ_m.
    reg_exponent : float
        ν: the penalty of row i is scaled by ``n_i ** ν`` (0: plain, 1: weighted-λ
        of ALS-WR, as in Spark).
    biases : bool
        Learn user and item biases; ``μ`` (``global_mean_``) is the mean rating.
        The biases are regularised like the factors.
    nonnegative : bool
        Constrain the factors to be ≥ 0 (each row solved as an NNLS problem).
    iterations : int
        Full alternations (user step + item step).
    dtype : {'float32', 'float64'}
        Precision of factors and computation.
    random_state : None, int, Generator, SeedSequence or RandomState
        Seed of the initial factors: normal, with rows of norm about √RMS of the ratings
        (less their mean with ``biases``), so that a fit does not depend on the ratings'
        unit (λ scaled alike).
    num_threads : int, optional
        Threads for the parallel loops (default or 0: all numba may use, and more is
        capped to that; −1 all, −2 all but one). Results do not depend on it.
    show_progress : bool
        Show a tqdm progress bar with the loss.
    callback : callable, optional
        Called as ``callback(iteration, loss)`` after each iteration.
    warm_start : bool
        When the model is already fitted, start from its factors instead of a random
        start and append to ``loss_history_``: resumes a fit stopped by Ctrl-C
        (which leaves the last completed iteration in place) or continues one.

    Attributes
    ----------
    user_factors_, item_factors_ : ndarray of shape (n_users, K), (n_items, K)
    user_biases_, item_biases_ : ndarray or None
        With ``biases=True``.
    global_mean_ : float
        μ (0 without biases).
    loss_history_ : list of float
        The loss above after each iteration. With λ > 0 it never increases (every
        half-step solves each row exactly), up to rounding.
    n_singular_ : int
        Row systems in the last iteration that were singular (λ = 0 with fewer
        ratings than factors) and were solved with a tiny ridge. Such a problem has
        no unique solution: the factors can drift along the directions the ratings
        leave free and the loss can then rise by rounding-level amounts (more in
        float32). Use λ > 0 for data with rows that short.
    user_ids_, item_ids_ : ndarray
        The original id of each factor row (the training Ratings' ``user_ids`` /
        ``item_ids``).
    validation_history_, validation_metric_, best_iteration_
        After ``fit(X, validation=...)``: see :meth:`fit`.

    Examples
    --------
    >>> import numpy as np, sparseals as sa
    >>> Y = np.random.default_rng(0).integers(1, 6, size=(50, 200)).astype(float)
    >>> model = sa.ExplicitALS(factors=2, regularization=0, iterations=20, random_state=0).fit(Y)
    >>> model.user_factors_.shape
    (50, 2)
    """

    def __init__(self, factors=10, regularization=0.1, reg_users=None, reg_items=None,
                 reg_exponent=0.0, biases=False, nonnegative=False, iterations=15,
                 dtype="float32", random_state=None, num_threads=None, show_progress=False,
                 callback=None, warm_start=False):
        self.factors = factors
        self.regularization = regularization
        self.reg_users = reg_users
        self.reg_items = reg_items
        self.reg_exponent = reg_exponent
        self.biases = biases
        self.nonnegative = nonnegative
        self.iterations = iterations
        self.dtype = dtype
        self.random_state = random_state
        self.num_threads = num_threads
        self.show_progress = show_progress
        self.callback = callback
        self.warm_start = warm_start

    def _validate_params(self):
        for name in ("biases", "show_progress"):
            v.boolean(getattr(self, name), name)
        return self._validate_common()

    def _validate_solve_params(self, dtype):
        v.boolean(self.nonnegative, "nonnegative")
        super()._validate_solve_params(dtype)

    def _initialise(self, ratings, rng, dtype, moments=None):
        if moments is None:
            moments = value_moments(ratings.by_user.data)
        super()._initialise(ratings, rng, dtype, moments)
        if self.nonnegative:
            np.abs(self.item_factors_, out=self.item_factors_)
        if self.biases:
            self.global_mean_ = moments[0]
            self.user_biases_ = np.zeros(ratings.shape[0], dtype=dtype)
            self.item_biases_ = np.zeros(ratings.shape[1], dtype=dtype)
        else:
            self.global_mean_ = 0.0
            self.user_biases_ = self.item_biases_ = None
        # the shared-Gram path reads each side's values as a dense matrix: a fully observed
        # Ratings lists every row's columns in order (Ratings._check_structure)
        self._dense = ratings.is_fully_observed and not self.nonnegative

    def _prepare_fit(self, ratings, given, dtype):
        v.arithmetic_floor(ratings.by_user.data, "ratings", dtype)
        return super()._prepare_fit(ratings, given, dtype)

    def _start_scale(self, moments):
        """√ of the RMS of what the factors explain (the ratings, less their mean with
        biases): the first user step's ``u·v`` then reach the ratings' size with ‖u‖ ≈ ‖v‖,
        whatever their unit. Unit rows instead met ratings of 10⁻³ with rows of norm 10⁻³,
        10⁻⁶ Gram matrices beside λ on the item side, and fits far from the same fit of
        the ratings in another unit; 1 when the ratings are all equal (or all 0).
        ``moments`` are always given here (:meth:`_initialise` takes them first)."""
        mean, mean_square = moments
        spread = mean_square - mean * mean if self.biases else mean_square
        return float(np.sqrt(np.sqrt(spread))) if spread > 0.0 else 1.0

    def _half_step(self, rows, n_other, other, other_bias, target, target_bias, reg,
                   row_losses=None):
        if self._dense:
            values = rows.data.reshape(len(target), n_other)
            return _dense_explicit_step(values, other, other_bias, self.global_mean_, target,
                                        target_bias, reg, self.reg_exponent, self.num_threads)
        return _explicit_step(rows, other, other_bias, self.global_mean_, target, target_bias,
                              reg, float(self.reg_exponent), self.nonnegative, self.num_threads,
                              row_losses)

    def _iterate(self, ratings):
        n_users, n_items = ratings.shape
        self.n_singular_ = self._half_step(ratings.by_user, n_items, self.item_factors_,
                                           self.item_biases_, self.user_factors_,
                                           self.user_biases_, self._reg_users)
        # the item step also takes the residuals of the items whose ratings it keeps
        # gathered (NaN for the others); only the longer items' ratings need another pass
        # (over the users)
        item_losses = None if self._dense else np.empty(n_items)
        self.n_singular_ += self._half_step(ratings.by_item, n_users, self.user_factors_,
                                            self.user_biases_, self.item_factors_,
                                            self.item_biases_, self._reg_items, item_losses)
        if item_losses is None:
            return None
        long_items = np.isnan(item_losses)
        observed = float(item_losses[~long_items].sum())
        if long_items.any():
            observed += self._data_loss(ratings, long_items)
        return observed

    def _data_loss(self, ratings, columns):
        """Σ of the squared residuals over the ratings of the items where ``columns`` is
        True (all of them if it is empty)."""
        from ._kernels.loss import explicit_row_losses

        zero = np.zeros(1, dtype=self.user_factors_.dtype)
        with kernel_threads(self.num_threads):
            return float(explicit_row_losses(
                ratings.by_user.indptr, ratings.by_user.indices, ratings.by_user.data,
                self.user_factors_, zero if self.user_biases_ is None else self.user_biases_,
                self.item_factors_, zero if self.item_biases_ is None else self.item_biases_,
                self.global_mean_, self.biases, columns).sum())

    def _loss(self, ratings, observed=None):
        """The loss of the current factors (``observed``: its data term, if known)."""
        if observed is None:
            observed = self._data_loss(ratings, np.zeros(0, dtype=np.bool_))
        penalty = 0.0
        for rows, factors, bias, reg in (
                (ratings.by_user, self.user_factors_, self.user_biases_, self._reg_users),
                (ratings.by_item, self.item_factors_, self.item_biases_, self._reg_items)):
            weights = np.diff(rows.indptr).astype(np.float64) ** self.reg_exponent
            norms = np.einsum("ij,ij->i", factors, factors, dtype=np.float64)
            if bias is not None:
                norms += bias.astype(np.float64) ** 2
            penalty += reg * float(weights @ norms)
        return observed + penalty

    # ------------------------------------------------------------------ scoring
    def _scoring_factors(self, side, rows=slice(None)):
        chosen = super()._scoring_factors(side, rows)
        if self.user_biases_ is None:  # the fitted state, not a set_params since
            return chosen
        bias = (self.user_biases_ if side == "user" else self.item_biases_)[rows, None]
        ones = np.ones((len(chosen), 1), dtype=chosen.dtype)
        return np.hstack([chosen, bias, ones] if side == "user" else [chosen, ones, bias])

    def _score_offset(self):
        return self.global_mean_

    def _bias_terms(self, users):
        if self.user_biases_ is None:
            return None
        return self.user_biases_[users] + self.global_mean_, self.item_biases_

    def fold_in(self, items, values):
        """Factors for a new user from their ratings, with the item factors held fixed.

        Solves the same regularised system a user half-step solves, for one new row;
        the model is not changed. The system takes the parameters as they are now
        (``set_params`` after the fit applies), checked as ``fit`` checks them.

        Parameters
        ----------
        items : array_like of int
            Item indices the new user rated.
        values : array_like of float
            Their ratings.

        Returns
        -------
        factors : ndarray of shape (K,)
            With ``biases=True``, a pair ``(factors, bias)``.

        Raises
        ------
        ValueError
            The factors (or bias) of a given item are NaN or infinite (changed after
            the fit); so do :meth:`partial_fit_users` and :meth:`partial_fit_items`
            for the rows of the other side that their systems read.

        Examples
        --------
        >>> import scipy.sparse as sp, sparseals as sa
        >>> X = sp.random(30, 20, density=0.3, format="csr", random_state=0)
        >>> model = sa.ExplicitALS(factors=3, random_state=0).fit(X)
        >>> new_user = model.fold_in([2, 7], [4.0, 5.0])
        >>> new_user.shape, model.user_factors_.shape  # the model is unchanged
        ((3,), (30, 3))
        """
        self._check_fitted()
        self._validate_solve_params(self.user_factors_.dtype)
        row = self._fold_in_row(items, values)
        dtype = self.item_factors_.dtype
        factors = np.zeros((1, self.item_factors_.shape[1]), dtype=dtype)  # NNLS: a cold start
        fitted_biases = self.user_biases_ is not None
        bias = np.empty(1, dtype=dtype) if fitted_biases else None
        self._solve_rows("user", row, factors, bias)
        return (factors[0], float(bias[0])) if fitted_biases else factors[0]

    def _solve_rows(self, side, rows, target, target_bias):
        """Solve the given rows of one side exactly, the other side fixed (fold-in, partial fit)."""
        if side == "user":
            other, other_bias, reg = self.item_factors_, self.item_biases_, self._reg_users
        else:
            other, other_bias, reg = self.user_factors_, self.user_biases_, self._reg_items
        if isinstance(other, np.ndarray):
            referenced = _distinct(rows.indices, len(other))  # the other side's rows read
            read = [other[referenced]] + ([] if other_bias is None else [other_bias[referenced]])
        else:  # left on a Dask cluster (gather=False): only the rows read come here
            referenced, rows, other = _referenced_rows(rows, other)
            other_bias = None if other_bias is None else other_bias[referenced]
            read = [other] + ([] if other_bias is None else [other_bias])
        _check_finite_rows(read, _OTHER_SIDE[side], referenced)
        return _explicit_step(rows, other, other_bias, self.global_mean_, target, target_bias,
                              reg, float(self.reg_exponent), self.nonnegative, self.num_threads)


class ImplicitALS(ALSBase):
    """Implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008) by ALS.

    Every user–item cell counts. A stored value r (a play count, a click, …) gives
    the preference ``p = 1 if r > 0 else 0`` and the confidence ``c = 1 + alpha·r``;
    every cell that is not stored has ``p = 0`` and confidence ``unobserved_weight``
    (α₀). The model minimises

        ``Σ_all (i,j) c_ij (p_ij − u_i·v_j)² + λ_u Σ_i w_i ‖u_i‖² + λ_m Σ_j w^j ‖v_j‖²``

    with ``w_i = (n_i + α₀ M)^ν`` (``reg_exponent`` ν = 0: plain λ). Each half-step
    computes ``α₀ VᵀV`` once and adds per row only the observed corrections; rows are
    solved exactly (``solver="cholesky"``) or by ``cg_steps`` conjugate-gradient steps
    warm started from the current factors (``solver="cg"``, Takács et al. 2011).

    Parameters
    ----------
    factors : int
        K, the number of latent factors.
    regularization : float
        λ for both sides (``reg_users`` / ``reg_items`` override one side).
    reg_users, reg_items : float, optional
        λ_u and λ_m.
    alpha : float
        Confidence scale α ≥ 0.
    unobserved_weight : float
        α₀ ≥ 0, the confidence of the cells that are not stored (Rendle et al. 2021
        tune it; 1 in Hu et al.).
    reg_exponent : float
        ν: the penalty of row i is scaled by ``(n_i + α₀ M) ** ν``, M the number of
        columns (frequency-scaled regularisation of Rendle et al. 2021).
    confidence : {'linear', 'raw'}
        ``'linear'``: ``c = 1 + alpha·r``; the values must be ≥ 0 (a stored 0 is an
        observed non-preference with confidence 1). ``'raw'``: ``c = alpha·|r|``, the
        stored value *is* the confidence, as in the `implicit` library (its model
        with ``alpha=a`` on a matrix ``C`` is this one with ``confidence='raw'``,
        ``alpha=a``, ``unobserved_weight=1``). This is also how to supply your own
        confidence matrix: store each cell's confidence and pass ``confidence='raw'``,
        ``alpha=1``; a negative value marks a known dislike (preference 0) with
        confidence ``|r|``, and a stored 0 removes the cell from the loss.
    solver : {'cg', 'cholesky'}
        Conjugate gradient (fast, approximate per half-step) or exact solves.
    cg_steps : int
        Conjugate-gradient steps per row and half-step.
    iterations : int
        Full alternations (user step + item step).
    dtype : {'float32', 'float64'}
        Precision of factors and computation.
    random_state : None, int, Generator, SeedSequence or RandomState
        Seed of the initial item factors (user factors start at zero).
    num_threads : int, optional
        Threads for the parallel loops (default or 0: all numba may use, and more is
        capped to that; −1 all, −2 all but one). Results do not depend on it.
    show_progress : bool
        Show a tqdm progress bar with the loss.
    callback : callable, optional
        Called as ``callback(iteration, loss)`` after each iteration.
    warm_start : bool
        When the model is already fitted, start from its factors instead of a random
        start and append to ``loss_history_``: resumes a fit stopped by Ctrl-C
        (which leaves the last completed iteration in place) or continues one.

    Attributes
    ----------
    user_factors_, item_factors_ : ndarray of shape (n_users, K), (n_items, K)
    loss_history_ : list of float
        The full loss above after each iteration (computed with the Gram-matrix
        identity ``Σ_all (u_i·v_j)² = ⟨UᵀU, VᵀV⟩``, never a dense N × M matrix).
        It never increases (both solvers decrease every row's objective).
    n_singular_ : int
        Row systems in the last iteration that were singular and solved with a ridge.
    user_ids_, item_ids_, validation_history_, validation_metric_, best_iteration_
        As in :class:`ExplicitALS`.

    Notes
    -----
    ``fold_in``, ``partial_fit_users`` and ``partial_fit_items`` always solve the
    rows' systems exactly, whatever ``solver`` is.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, sparseals as sa
    >>> plays = sp.random(100, 80, density=0.05, format="csr", random_state=0) * 10
    >>> model = sa.ImplicitALS(factors=8, iterations=5, random_state=0).fit(plays)
    >>> items, scores = model.recommend(0, n=5)
    >>> items.shape
    (5,)
    """

    _validation_metric = "ndcg"  # early stopping's default: a ranking metric

    def __init__(self, factors=64, regularization=0.01, reg_users=None, reg_items=None, alpha=1.0,
                 unobserved_weight=1.0, reg_exponent=0.0, confidence="linear", solver="cg",
                 cg_steps=3, iterations=15, dtype="float32", random_state=None, num_threads=None,
                 show_progress=False, callback=None, warm_start=False):
        self.factors = factors
        self.regularization = regularization
        self.reg_users = reg_users
        self.reg_items = reg_items
        self.alpha = alpha
        self.unobserved_weight = unobserved_weight
        self.reg_exponent = reg_exponent
        self.confidence = confidence
        self.solver = solver
        self.cg_steps = cg_steps
        self.iterations = iterations
        self.dtype = dtype
        self.random_state = random_state
        self.num_threads = num_threads
        self.show_progress = show_progress
        self.callback = callback
        self.warm_start = warm_start

    def _validate_params(self):
        v.boolean(self.show_progress, "show_progress")
        v.one_of(self.solver, "solver", _IMPLICIT_SOLVERS)
        v.positive_int(self.cg_steps, "cg_steps", v.INT32_MAX)
        return self._validate_common()

    def _validate_solve_params(self, dtype):
        v.non_negative_float(self.alpha, "alpha")
        v.non_negative_float(self.unobserved_weight, "unobserved_weight")
        v.one_of(self.confidence, "confidence", _CONFIDENCES)
        super()._validate_solve_params(dtype)

    def _initialise(self, ratings, rng, dtype, moments=None):
        super()._initialise(ratings, rng, dtype, moments)
        # the first user step solves from zero: the natural CG start
        self.user_factors_[:] = 0

    def _check_values(self, data, name):
        _check_confidence_values(data, name, self.confidence, float(self.alpha),
                                 float(self.unobserved_weight), data.dtype)

    def _step(self, rows, other, target, reg, use_cg, row_losses=None, long_rows=None,
              other_gram=None, n_other=-1, in_fit=False):
        # in a fit, the other side is rotated in place (_iterate_or_restore keeps a copy
        # of both sides anyway); a fold-in or partial fit must leave it as it is
        return _implicit_step(rows, other, target, reg, float(self.reg_exponent),
                              float(self.alpha), float(self.unobserved_weight), self.confidence,
                              use_cg, int(self.cg_steps), self.num_threads,
                              other_gram=other_gram, n_other=n_other, row_losses=row_losses,
                              long_rows=long_rows, rotate_other_in_place=in_fit)

    def _unobserved_weight(self):
        return float(self.unobserved_weight)

    def _listed_ratings(self, ratings, dtype):
        """The ratings of the rows the CG cannot gather, planned once per fit."""
        if self.solver != "cg":
            return 0
        from ._kernels.implicit import gather_rows

        threshold = gather_rows(self.factors, dtype)
        lengths = np.concatenate([np.diff(ratings.by_user.indptr), np.diff(ratings.by_item.indptr)])
        return int(lengths[lengths > threshold].sum())

    def _fit(self, X, *args, **kwargs):
        self._long_rows = None  # the CG's long rows, planned by the first iteration
        try:
            return super()._fit(X, *args, **kwargs)
        finally:
            del self._long_rows

    def _iterate(self, ratings):
        use_cg = self.solver == "cg"
        long_users = long_items = None
        if use_cg:
            if getattr(self, "_long_rows", None) is None:
                dtype = self.user_factors_.dtype
                self._long_rows = (
                    _plan_long_rows(ratings.by_user, ratings.by_item, self.factors, dtype),
                    _plan_long_rows(ratings.by_item, ratings.by_user, self.factors, dtype))
            long_users, long_items = self._long_rows
        self.n_singular_ = self._step(ratings.by_user, self.item_factors_, self.user_factors_,
                                      self._reg_users, use_cg, long_rows=long_users,
                                      in_fit=True)
        # the item step also gives the loss's observed cells, from the rows it gathers
        item_losses = np.empty(len(self.item_factors_))
        self.n_singular_ += self._step(ratings.by_item, self.user_factors_, self.item_factors_,
                                       self._reg_items, use_cg, item_losses, long_items,
                                       in_fit=True)
        return float(item_losses.sum())

    def _solve_rows(self, side, rows, target, target_bias=None):
        """Solve the given rows of one side exactly, the other side fixed (fold-in, partial fit)."""
        other, reg = ((self.item_factors_, self._reg_users) if side == "user"
                      else (self.user_factors_, self._reg_items))
        if isinstance(other, np.ndarray):
            referenced = _distinct(rows.indices, len(other))
            if 4 * len(referenced) > len(other):
                # every row of the other side enters each system (through its Gram matrix)
                _check_finite_rows([other], _OTHER_SIDE[side], np.arange(len(other)))
                return self._step(rows, other, target, reg, False)
            # few rows of the other side (a fold-in): the half-step rotates only those into
            # G's eigenbasis, not the whole side (ml20m@0.1, K = 64: 6.8–8.1 → 2.7 ms per
            # fold-in)
            with kernel_threads(self.num_threads), np.errstate(invalid="ignore"):  # checked next
                gram = other.T @ other
            if not np.isfinite(gram).all():  # a non-finite row makes it so: find which
                _check_finite_rows([other], _OTHER_SIDE[side], np.arange(len(other)))
        else:  # left on a Dask cluster (gather=False): only the rows referenced come here
            referenced = None
            gram = other.gram()
        _, local, referenced = _referenced_rows(rows, other, referenced)
        return self._step(local, referenced, target, reg, False, other_gram=gram,
                          n_other=len(other))

    def _loss(self, ratings, observed=None):
        """The full loss of the current factors (``observed``: the observed cells' part,
        if known)."""
        from ._kernels.loss import implicit_row_losses

        users, items = self.user_factors_, self.item_factors_
        alpha0 = float(self.unobserved_weight)
        c0, c1 = _confidence_terms(self.confidence, float(self.alpha))
        with kernel_threads(self.num_threads):  # one BLAS thread: see solvers._implicit_step
            everywhere = float(np.sum((users.T @ users).astype(np.float64)
                                      * (items.T @ items).astype(np.float64)))
        if observed is None:
            with kernel_threads(self.num_threads):
                observed = float(implicit_row_losses(
                    ratings.by_user.indptr, ratings.by_user.indices, ratings.by_user.data,
                    users, items, c0, c1, alpha0).sum())
        penalty = 0.0
        for rows, factors, reg, n_other in ((ratings.by_user, users, self._reg_users, len(items)),
                                            (ratings.by_item, items, self._reg_items, len(users))):
            weights = (np.diff(rows.indptr) + alpha0 * n_other) ** float(self.reg_exponent)
            norms = np.einsum("ij,ij->i", factors, factors, dtype=np.float64)
            penalty += reg * float(weights @ norms)
        # the data part is a sum of squares: below zero only by rounding (a perfect fit)
        return max(alpha0 * everywhere + observed, 0.0) + penalty

    def fold_in(self, items, values):
        """Factors for a new user from their interactions, with the item factors held fixed.

        Solves exactly the system a user half-step solves for one new row (also
        when ``solver="cg"``); the model is not changed. The system takes the
        parameters as they are now (``set_params`` after the fit applies), checked as
        ``fit`` checks them.

        Parameters
        ----------
        items : array_like of int
            Item indices the new user interacted with.
        values : array_like of float
            Their values (counts, or confidences with ``confidence='raw'``).

        Returns
        -------
        factors : ndarray of shape (K,)

        Raises
        ------
        ValueError
            The factors of any item are NaN or infinite (changed after the fit): every
            item enters the system, through ``VᵀV``; the same for the partial fits.
        """
        self._check_fitted()
        self._validate_solve_params(self.user_factors_.dtype)
        row = self._fold_in_row(items, values)
        factors = np.zeros((1, self.item_factors_.shape[1]), dtype=self.item_factors_.dtype)
        self._solve_rows("user", row, factors)
        return factors[0]
