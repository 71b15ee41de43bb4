"""``sparseals demo``: the textbook example, then a generated MovieLens-sized fit."""

import time

import numpy as np

from .._threads import blas_advice
from .._validation import positive_int, random_generator
from ..datasets import PRESETS, seed_example, synthetic
from ..metrics import rmse
from ..model_selection import train_test_split
from ..models import ExplicitALS


_FEWEST_RATINGS = 100
"""Fewest generated ratings: 10 held out, at least."""


def run_demo(ratings=1_000_209, factors=32, iterations=10, seed=0, num_threads=None, out=print):
    """Print the two demo fits (see the module docstring); returns the generated-set model."""
    # checked before the first part runs, not after it
    for name, value in (("ratings", ratings), ("factors", factors), ("iterations", iterations)):
        positive_int(value, name)
    random_generator(seed, "seed")
    n_users, n_items, _ = PRESETS["ml1m"]
    most = n_users * n_items // 2  # what the sparse generator can place
    if not _FEWEST_RATINGS <= ratings <= most:
        raise ValueError(f"ratings must be from {_FEWEST_RATINGS:,} (a test set of 10 % needs "
                         f"some) to {most:,} (half the {n_users} × {n_items} cells); "
                         f"got {ratings:,}")
    advice = blas_advice()
    if advice:
        out(f"note: {advice}\n")
    _textbook(seed, num_threads, out)
    return _movielens_sized(ratings, factors, iterations, seed, num_threads, out)


def _textbook(seed, num_threads, out):
    out("== The textbook example: 50 users × 200 movies, ratings 1..5, K = 2, no regularisation")
    dense = seed_example(seed)
    model = ExplicitALS(factors=2, regularization=0.0, iterations=50, dtype="float64",
                        random_state=seed, num_threads=num_threads).fit(dense)
    out(f"mean squared error of the fit: {model.loss_history_[-1] / dense.size:.4f}")
    out(f"first user's weights:   {np.array2string(model.user_factors_[0], precision=4)}")
    out(f"first movie's loadings: {np.array2string(model.item_factors_[0], precision=4)}")
    mean_user = model.user_factors_.mean(axis=0)
    scores = model.item_factors_ @ mean_user
    best = np.lexsort((np.arange(len(scores)), -scores))[:6]
    out("6 best movies for a new user with the mean weights: "
        + ", ".join(f"movie {j} ({scores[j]:.3f})" for j in best))


def _movielens_sized(n_ratings, factors, iterations, seed, num_threads, out):
    n_users, n_items, _ = PRESETS["ml1m"]
    out(f"\n== Generated data with MovieLens 1M's shape: {n_users} users × {n_items} items")
    start = time.perf_counter()
    ratings = synthetic(n_users, n_items, n_ratings, rank=10, seed=seed)
    out(f"generated {ratings.nnz:,} ratings (planted rank 10, power-law popularity) "
        f"in {time.perf_counter() - start:.1f} s")
    train, test = train_test_split(ratings, test_size=0.1, random_state=seed)
    model = ExplicitALS(factors=factors, regularization=0.05, reg_exponent=1.0, biases=True,
                        iterations=iterations, random_state=seed, num_threads=num_threads)
    stamps = []
    model.callback = lambda iteration, loss: stamps.append(time.perf_counter())
    start = time.perf_counter()
    model.fit(train)
    first = stamps[0] - start
    later = np.diff(stamps)
    per_iteration = f"{np.median(later):.3f} s" if len(later) else "n/a"
    out(f"fit: {iterations} iterations, {factors} factors, biases, weighted λ = 0.05; "
        f"first iteration {first:.2f} s (includes JIT compile on a first run), "
        f"then {per_iteration} per iteration")
    out(f"train RMSE {rmse(model, train):.4f}   test RMSE {rmse(model, test):.4f} "
        f"(held-out 10 %; ratings are rounded to 1..5, so ~0.4 is the noise floor)")
    items, scores = model.recommend(0, n=10)
    out("top 10 unseen items for user 0: "
        + ", ".join(f"{i} ({s:.2f})" for i, s in zip(items, scores)))
    return model

