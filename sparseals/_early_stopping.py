"""Early stopping for the fit loop: a held-out metric after each iteration, best factors kept.

:meth:`ALSBase.fit` calls :func:`start`, which builds an :class:`EarlyStopping` when
given ``validation=``; the
loop calls :meth:`EarlyStopping.update` after each iteration (it returns True when
the fit should stop) and :meth:`EarlyStopping.finish` at the end, which restores
the best iteration's arrays and records ``validation_history_``,
``validation_metric_`` and ``best_iteration_`` on the model.
"""

import numbers

import numpy as np
import scipy.sparse as sp

from .ratings import DuplicatePairsError, Ratings

DEFAULT_PATIENCE = 3
_LOWER_IS_BETTER = ("rmse", "mae")
_VALIDATION = "validation (the held-out ratings)"  # how an error about them starts
_VALIDATION_ATTRIBUTES = ("validation_history_", "validation_metric_", "best_iteration_")


def start(model, ratings, validation, metric, patience):
    """An :class:`EarlyStopping` for a validated fit, else None (after checking the options).

    Called before the fit touches the model: a bad option leaves a fitted model as it was.
    """
    stopper = None
    if validation is None:
        for name, value in (("metric", metric), ("patience", patience)):
            if value is not None:
                raise ValueError(f"{name}={value!r} applies to early stopping only; pass "
                                 "validation= (held-out ratings) too, or leave it out")
    else:
        stopper = EarlyStopping(model, ratings, validation, metric, patience)
    for name in _VALIDATION_ATTRIBUTES:  # left by an earlier validated fit
        if name in vars(model):
            delattr(model, name)
    return stopper


class EarlyStopping:
    """State of one validated fit.

    Parameters
    ----------
    model : ALSBase
        The model being fitted; its ``_WARM_START`` arrays are the ones kept.
    ratings : Ratings
        The training ratings (their shape and ids define the index space).
    validation : Ratings, scipy.sparse matrix or ndarray
        Held-out ratings of the same shape.
    metric : str or None
        A name from :data:`sparseals.metrics.METRICS` (ranking ones at k = 10);
        None: the model's ``_validation_metric``.
    patience : int or None
        Iterations without improvement before stopping (None: 3).
    """

    def __init__(self, model, ratings, validation, metric, patience):
        from .metrics import METRICS

        if metric is None:
            metric = model._validation_metric
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {list(METRICS)}; got {metric!r}")
        if patience is None:
            patience = DEFAULT_PATIENCE
        if (isinstance(patience, (bool, np.bool_)) or not isinstance(patience, numbers.Integral)
                or patience < 1):
            raise ValueError(f"patience must be a positive integer (iterations without "
                             f"improvement before stopping); got {patience!r}")
        self.metric = metric
        self.patience = int(patience)
        self.greater_is_better = metric not in _LOWER_IS_BETTER
        self.validation = _held_out(validation, ratings, ratings.dtype)
        self.history = []
        self.best_iteration = None
        self.best_score = None
        self.best_arrays = None

    def update(self, model, iteration):
        """Score the current factors; keep them if best. True when patience has run out."""
        from .metrics import evaluate

        score = evaluate(model, self.validation, (self.metric,))[self.metric]
        self.history.append(score)
        if not np.isfinite(score):
            raise FloatingPointError(f"the validation {self.metric} is {score} at iteration "
                                     f"{iteration}; the fit diverged")
        if self.best_score is None or (score > self.best_score if self.greater_is_better
                                       else score < self.best_score):
            self.best_score, self.best_iteration = score, iteration
            self.best_arrays = {name: getattr(model, name).copy() for name in model._WARM_START
                                if getattr(model, name, None) is not None}
            return False
        return iteration - self.best_iteration >= self.patience

    def finish(self, model):
        """Restore the best iteration's arrays and record the history on ``model``.

        ``loss_history_`` is cut after the kept iteration, so that it leads to the
        factors the model holds (a warm-started fit continues from them).
        """
        if self.best_arrays is not None:
            for name, array in self.best_arrays.items():
                setattr(model, name, array)
            dropped = len(self.history) - 1 - self.best_iteration
            if dropped:
                del model.loss_history_[-dropped:]
        model.validation_history_ = list(self.history)
        model.validation_metric_ = self.metric
        model.best_iteration_ = self.best_iteration


def _held_out(validation, ratings, dtype):
    """``validation`` as Ratings in the training index space, or a clear error."""
    from ._base import as_ratings

    given = isinstance(validation, Ratings)
    if not (given or sp.issparse(validation) or isinstance(validation, np.ndarray)):
        raise TypeError(f"validation must be held-out ratings (a Ratings, a scipy.sparse matrix "
                        f"or a dense array with NaN for missing); got "
                        f"{type(validation).__name__}")
    try:
        held = as_ratings(validation, dtype, name="validation")
    except (TypeError, ValueError) as error:  # the converters' texts name no argument
        raise _about_validation(error) from None
    if held.shape != ratings.shape:
        raise ValueError(f"validation has shape {held.shape} but X has shape {ratings.shape}; "
                         "held-out ratings must share X's users and items (split one Ratings "
                         "with sparseals.model_selection.train_test_split)")
    if given:
        for side, mine, theirs in (("user", held.user_ids, ratings.user_ids),
                                   ("item", held.item_ids, ratings.item_ids)):
            if not np.array_equal(mine, theirs):
                raise ValueError(f"validation's {side} ids differ from X's: held-out ratings "
                                 "must be encoded like the training ratings (split one Ratings "
                                 "with sparseals.model_selection.train_test_split)")
        return held
    # a matrix is indexed like X: give it X's id maps so the metrics accept it
    return Ratings(held.by_user, held.by_item, held.shape, ratings.user_ids, ratings.item_ids)


def _about_validation(error):
    """``error`` (about the held-out ratings) again, its message naming ``validation``."""
    if isinstance(error, DuplicatePairsError):  # its message is built from what it found
        return DuplicatePairsError(f"{_VALIDATION}: {error.found}")
    return type(error)(f"{_VALIDATION}: {error}")
