"""The public models: :class:`ExplicitALS` (and, later, the implicit-feedback model)."""

import numpy as np

from . import _validation as v
from ._base import ALSBase
from .ratings import Compressed
from .solvers import _dense_explicit_step, _explicit_step


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
    random_state : int, Generator or None
        Seed of the initial item factors.
    num_threads : int, optional
        Threads for the parallel loops (default: all numba may use; −1 all, −2 all
        but one). Results do not depend on it.
    show_progress : bool
        Show a tqdm progress bar with the loss.
    callback : callable, optional
        Called as ``callback(iteration, loss)`` after each iteration.

    Attributes
    ----------
    user_factors_, item_factors_ : ndarray of shape (n_users, K), (n_items, K)
    user_biases_, item_biases_ : ndarray or None
        With ``biases=True``.
    global_mean_ : float
        μ (0 without biases).
    loss_history_ : list of float
        The loss above after each iteration; it never increases.
    n_singular_ : int
        Row systems in the last iteration that were singular (λ = 0 with fewer
        ratings than factors) and were solved with a tiny ridge.

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
                 callback=None):
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

    def _validate_params(self):
        for name in ("biases", "nonnegative", "show_progress"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False; got {getattr(self, name)!r}")
        return self._validate_common()

    def _initialise(self, ratings, rng, dtype):
        super()._initialise(ratings, rng, dtype)
        if self.nonnegative:
            np.abs(self.item_factors_, out=self.item_factors_)
        if self.biases:
            self.global_mean_ = float(np.mean(ratings.by_user.data, dtype=np.float64))
            self.user_biases_ = np.zeros(ratings.shape[0], dtype=dtype)
            self.item_biases_ = np.zeros(ratings.shape[1], dtype=dtype)
        else:
            self.global_mean_ = 0.0
            self.user_biases_ = self.item_biases_ = None
        self._dense = ratings.is_fully_observed and not self.nonnegative

    def _half_step(self, rows, n_other, other, other_bias, target, target_bias, reg):
        if self._dense:
            values = rows.data.reshape(len(target), n_other)
            return _dense_explicit_step(values, other, other_bias, self.global_mean_, target,
                                        target_bias, reg, self.reg_exponent, self.num_threads)
        return _explicit_step(rows, other, other_bias, self.global_mean_, target, target_bias,
                              reg, float(self.reg_exponent), self.nonnegative, self.num_threads)

    def _iterate(self, ratings):
        n_users, n_items = ratings.shape
        self.n_singular_ = self._half_step(ratings.by_user, n_items, self.item_factors_,
                                           self.item_biases_, self.user_factors_,
                                           self.user_biases_, self._reg_users)
        self.n_singular_ += self._half_step(ratings.by_item, n_users, self.user_factors_,
                                            self.user_biases_, self.item_factors_,
                                            self.item_biases_, self._reg_items)

    def _loss(self, ratings):
        from ._kernels.loss import explicit_row_losses
        from ._threads import kernel_threads

        zero = np.zeros(1, dtype=self.user_factors_.dtype)
        with kernel_threads(self.num_threads):
            residuals = explicit_row_losses(
                ratings.by_user.indptr, ratings.by_user.indices, ratings.by_user.data,
                self.user_factors_, zero if self.user_biases_ is None else self.user_biases_,
                self.item_factors_, zero if self.item_biases_ is None else self.item_biases_,
                self.global_mean_, self.biases)
        penalty = 0.0
        for rows, factors, bias, reg in (
                (ratings.by_user, self.user_factors_, self.user_biases_, self._reg_users),
                (ratings.by_item, self.item_factors_, self.item_biases_, self._reg_items)):
            weights = np.diff(rows.indptr).astype(np.float64) ** self.reg_exponent
            norms = np.einsum("ij,ij->i", factors, factors, dtype=np.float64)
            if bias is not None:
                norms += bias.astype(np.float64) ** 2
            penalty += reg * float(weights @ norms)
        return float(residuals.sum()) + penalty

    # ------------------------------------------------------------------ scoring
    def _scoring_factors(self, side):
        if not self.biases:
            return super()._scoring_factors(side)
        factors = self.user_factors_ if side == "user" else self.item_factors_
        bias = self.user_biases_ if side == "user" else self.item_biases_
        ones = np.ones((len(factors), 1), dtype=factors.dtype)
        parts = [factors, bias[:, None], ones] if side == "user" else [factors, ones, bias[:, None]]
        return np.hstack(parts)

    def _score_offset(self):
        return self.global_mean_

    def fold_in(self, items, values):
        """Factors for a new user from their ratings, with the item factors held fixed.

        Solves the same regularised system a user half-step solves, for one new row;
        the model is not changed.

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
        """
        self._check_fitted()
        dtype = self.item_factors_.dtype
        items = self._indices(items, "items", len(self.item_factors_), "items")
        values = v.value_array(values, "values", dtype)
        v.same_length([items, values], ["items", "values"])
        if len(np.unique(items)) < len(items):
            raise ValueError("items contains repeated item indices; give each item once")
        row = Compressed(np.array([0, len(items)], dtype=np.int64), items.astype(np.int32),
                         values)
        factors = np.empty((1, self.factors), dtype=dtype)
        bias = np.empty(1, dtype=dtype) if self.biases else None
        _explicit_step(row, self.item_factors_, self.item_biases_, self.global_mean_, factors,
                       bias, self._reg_users, float(self.reg_exponent), self.nonnegative,
                       self.num_threads)
        return (factors[0], float(bias[0])) if self.biases else factors[0]
