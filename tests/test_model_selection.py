"""Splits, k-fold, cross-validation and grid search."""

import numpy as np
import pandas as pd
import pytest

import sparseals as sa
from sparseals.datasets import synthetic
from sparseals.model_selection import (KFold, cross_validate, grid_search, leave_k_out,
                                       split_by_time, train_test_split)


@pytest.fixture(scope="module")
def ratings():
    return synthetic(80, 40, 900, seed=2)


def triples(r):
    """Set of (user, item, value) of a Ratings."""
    rows = r.by_user
    users = np.repeat(np.arange(r.shape[0]), np.diff(rows.indptr))
    return set(zip(users.tolist(), rows.indices.tolist(), rows.data.tolist()))


def assert_partition(whole, parts):
    sets = [triples(p) for p in parts]
    assert sum(len(s) for s in sets) == whole.nnz
    assert set().union(*sets) == triples(whole)
    for p in parts:
        assert p.shape == whole.shape
        assert p.user_ids is whole.user_ids and p.item_ids is whole.item_ids
        # the CSC side is the transpose of the CSR side
        np.testing.assert_array_equal(p.csc.toarray(), p.csr.toarray())


def test_train_test_split(ratings):
    train, test = train_test_split(ratings, test_size=0.25, random_state=0)
    assert test.nnz == round(0.25 * ratings.nnz)
    assert_partition(ratings, [train, test])
    again = train_test_split(ratings, test_size=0.25, random_state=0)[1]
    assert triples(again) == triples(test)
    other = train_test_split(ratings, test_size=0.25, random_state=1)[1]
    assert triples(other) != triples(test)


def test_leave_k_out_random_and_latest(ratings):
    counts = np.diff(ratings.by_user.indptr)
    train, test = leave_k_out(ratings, k=2, min_ratings=5, random_state=0)
    assert_partition(ratings, [train, test])
    held = np.diff(test.by_user.indptr)
    np.testing.assert_array_equal(held, np.where(counts >= 5, 2, 0))
    # with timestamps, each user's latest two are held out
    stamps = np.random.default_rng(5).permutation(ratings.nnz)
    train, test = leave_k_out(ratings, k=2, min_ratings=5, timestamps=stamps)
    for u in np.flatnonzero(counts >= 5):
        sl = slice(ratings.by_user.indptr[u], ratings.by_user.indptr[u + 1])
        latest = ratings.by_user.indices[sl][np.argsort(stamps[sl])[-2:]]
        got = test.by_user.indices[test.by_user.indptr[u]:test.by_user.indptr[u + 1]]
        assert sorted(latest.tolist()) == got.tolist()


def test_random_subsets_are_uniform_over_k_subsets():
    """Floyd's sampling, which leave_k_out uses for k ≤ 32: every k-subset of a row's
    offsets equally likely (20,000 rows each, frequencies within 5 standard errors)."""
    from itertools import combinations
    from math import comb

    from sparseals.model_selection import _random_subsets

    rng = np.random.default_rng(0)
    for size, k in [(5, 2), (6, 3), (4, 1), (3, 3)]:
        chosen = _random_subsets(rng, np.full(20_000, size), k)
        assert chosen.min() >= 0 and chosen.max() < size
        subsets = [tuple(sorted(row)) for row in chosen.tolist()]
        assert all(len(set(row)) == k for row in subsets)
        expected = 1 / comb(size, k)
        tolerance = 5 * np.sqrt(expected * (1 - expected) / 20_000) + 1e-12
        for subset in combinations(range(size), k):
            assert abs(subsets.count(subset) / 20_000 - expected) <= tolerance, (size, k, subset)
    # rows of different sizes in one call stay within their own range
    sizes = np.array([2, 7, 40, 3])
    chosen = _random_subsets(rng, sizes, 2)
    assert (chosen < sizes[:, None]).all() and (chosen[:, 0] != chosen[:, 1]).all()


@pytest.mark.parametrize("k", [1, 3, 40])
def test_leave_k_out_holds_k_of_every_eligible_user(k):
    """k ≤ 32 samples each row directly, larger k sorts all ratings by a random key."""
    ratings = synthetic(30, 300, 3000, seed=4)
    counts = np.diff(ratings.by_user.indptr)
    train, test = leave_k_out(ratings, k=k, min_ratings=k + 40, random_state=1)
    assert_partition(ratings, [train, test])
    np.testing.assert_array_equal(np.diff(test.by_user.indptr), np.where(counts >= k + 40, k, 0))
    again = leave_k_out(ratings, k=k, min_ratings=k + 40, random_state=1)[1]
    assert triples(again) == triples(test)
    assert triples(leave_k_out(ratings, k=k, min_ratings=k + 40, random_state=2)[1]) != \
        triples(test)


@pytest.mark.parametrize("kind", ["int64", "uint32", "float", "wide int64", "huge uint64"])
def test_leave_k_out_holds_out_the_latest_with_ties_by_position(ratings, kind):
    """Every timestamp type takes the packed sort or np.lexsort with one answer: the latest
    k of each user, ties resolved towards the later stored rating."""
    rng = np.random.default_rng(7)
    stamps = rng.integers(0, 30, ratings.nnz)  # few distinct values: many ties
    stamps = {"int64": stamps, "uint32": stamps.astype(np.uint32),
              "float": stamps + 0.5, "wide int64": stamps * (1 << 56) - (1 << 61),
              "huge uint64": stamps.astype(np.uint64) * np.uint64(1 << 58)}[kind]
    train, test = leave_k_out(ratings, k=3, min_ratings=4, timestamps=stamps)
    assert_partition(ratings, [train, test])
    indptr = ratings.by_user.indptr
    for u in range(ratings.shape[0]):
        sl = slice(indptr[u], indptr[u + 1])
        if indptr[u + 1] - indptr[u] < 4:
            expected = []
        else:
            latest = np.lexsort((stamps[sl],))[-3:]  # stable: ties keep their stored order
            expected = sorted(ratings.by_user.indices[sl][latest].tolist())
        got = test.by_user.indices[test.by_user.indptr[u]:test.by_user.indptr[u + 1]]
        assert got.tolist() == expected


def test_time_splits_of_a_dataframe_use_the_stored_order():
    """Bug: from_dataframe gave no timestamps, and df["ts"] (row order, the right length)
    held out the wrong ratings. from_dataframe(timestamp=) returns them in by_user's order."""
    rng = np.random.default_rng(11)
    users, items = np.divmod(rng.permutation(60 * 30)[:600], 30)  # distinct pairs, shuffled
    df = pd.DataFrame({"user": users, "item": items, "rating": rng.integers(1, 6, 600) * 1.0,
                       "ts": rng.permutation(600)})
    ratings, stamps = sa.Ratings.from_dataframe(df, "user", "item", "rating", timestamp="ts")
    latest = df.sort_values("ts").groupby("user").tail(1)
    latest = latest[latest.user.map(df.user.value_counts()) >= 2]
    def held(test):  # (user id, item id) pairs
        return {(ratings.user_ids[u], ratings.item_ids[i]) for u, i, _ in triples(test)}

    test = leave_k_out(ratings, k=1, min_ratings=2, timestamps=stamps)[1]
    assert held(test) == set(zip(latest.user, latest.item))
    late = df[df.ts >= 500]
    assert held(split_by_time(ratings, stamps, at=500)[1]) == set(zip(late.user, late.item))


def test_split_by_time(ratings):
    stamps = np.random.default_rng(3).integers(0, 1000, ratings.nnz)
    train, test = split_by_time(ratings, stamps, test_size=0.2)
    assert_partition(ratings, [train, test])
    assert test.nnz == round(0.2 * ratings.nnz)
    train, test = split_by_time(ratings, stamps, at=500)
    assert test.nnz == int((stamps >= 500).sum())
    rows = ratings.by_user
    users = np.repeat(np.arange(ratings.shape[0]), np.diff(rows.indptr))
    late = {(u, i) for u, i, s in zip(users, rows.indices, stamps) if s >= 500}
    assert {(u, i) for u, i, _ in triples(test)} == late


def test_kfold_partitions_every_rating_once(ratings):
    folds = list(KFold(4, random_state=0).split(ratings))
    assert len(folds) == 4
    assert_partition(ratings, [test for _, test in folds])
    for train, test in folds:
        assert_partition(ratings, [train, test])
        assert abs(test.nnz - ratings.nnz / 4) <= 1
    unshuffled = [test.nnz for _, test in KFold(3, shuffle=False).split(ratings)]
    assert sum(unshuffled) == ratings.nnz


def test_cross_validate_clones_and_scores(ratings):
    model = sa.ExplicitALS(factors=3, iterations=3, biases=True, random_state=0)
    scores = cross_validate(model, ratings, cv=3, metrics=("rmse", "ndcg"), random_state=0)
    assert not hasattr(model, "item_factors_")
    assert set(scores) == {"rmse", "ndcg", "fit_time"}
    assert scores["rmse"].shape == (3,) and np.all(scores["rmse"] > 0)
    folds = list(KFold(3, random_state=0).split(ratings))
    again = cross_validate(model, ratings, cv=folds, metrics=("rmse", "ndcg"))
    np.testing.assert_array_equal(again["rmse"], scores["rmse"])
    from sparseals.metrics import rmse

    first = sa.ExplicitALS(**model.get_params()).fit(folds[0][0])
    assert scores["rmse"][0] == rmse(first, folds[0][1])


def test_grid_search_picks_the_best_and_warm_starts(ratings):
    model = sa.ExplicitALS(iterations=3, biases=True, random_state=0)
    grid = {"regularization": [0.05, 5.0], "factors": [2, 3]}
    folds = list(KFold(3, random_state=0).split(ratings))
    result = grid_search(model, ratings, grid, cv=folds, metrics=("mae",))  # cold by default
    assert len(result.results_) == 4
    # the structural parameter varies slowest, so same-factor settings are neighbours
    assert [r["params"]["factors"] for r in result.results_] == [2, 2, 3, 3]
    best = min(result.results_, key=lambda r: r["mean_rmse"])
    assert result.best_params_ == best["params"] and result.best_score_ == best["mean_rmse"]
    cold = cross_validate(sa.ExplicitALS(**{**model.get_params(), **best["params"]}), ratings,
                          cv=folds)
    assert best["mean_rmse"] == pytest.approx(cold["rmse"].mean(), rel=1e-12)
    warm = grid_search(model, ratings, grid, cv=folds, warm_start=True)
    assert [r["params"] for r in warm.results_] == [r["params"] for r in result.results_]
    # the first setting of each factor count starts cold; the next one warm, so it differs
    assert warm.results_[0]["mean_rmse"] == result.results_[0]["mean_rmse"]
    assert warm.results_[1]["mean_rmse"] != result.results_[1]["mean_rmse"]
    ndcg = grid_search(model, ratings, {"factors": [2, 3]}, cv=folds, metric="ndcg")
    assert ndcg.best_score_ == max(r["mean_ndcg"] for r in ndcg.results_)
    # metrics as one name (it was iterated letter by letter: "unknown metric 'm'"), and a
    # generator of values (used up by the check: "min() arg is an empty sequence")
    named = grid_search(model, ratings, {"factors": (f for f in [2, 3])}, cv=folds[:2],
                        metrics="mae")
    assert [r["params"]["factors"] for r in named.results_] == [2, 3]
    assert "mean_mae" in named.results_[0]


def test_a_generator_random_state_is_copied_for_each_fit(ratings):
    """Every fit drew its initial factors from the model's one Generator in turn: a setting's
    score depended on the settings before it (RMSE 2.05 or 1.67 for one λ by the grid's
    order) and the caller's generator moved on, though the model is 'never modified'."""
    rng = np.random.default_rng(7)
    state = rng.bit_generator.state
    model = sa.ExplicitALS(factors=3, iterations=3, random_state=rng)
    folds = list(KFold(3, random_state=0).split(ratings))
    grid = [0.01, 0.1, 1.0]

    def scores(values, **options):
        result = grid_search(model, ratings, {"regularization": values}, cv=folds, **options)
        return {r["params"]["regularization"]: r["mean_rmse"] for r in result.results_}

    assert scores(grid) == scores(grid[::-1])
    cv = cross_validate(model, ratings, cv=folds)
    np.testing.assert_array_equal(cv["rmse"], cross_validate(model, ratings, cv=folds)["rmse"])
    assert rng.bit_generator.state == state
    # a warm start still follows its neighbour when only the penalty differs
    warm = scores(grid, warm_start=True)
    assert warm[0.01] == scores(grid)[0.01] and warm[0.1] != scores(grid)[0.1]


def test_grid_search_scores_do_not_depend_on_the_grid_order(ratings):
    """A warm start by default made a setting's score depend on the settings before it
    (3 iterations: reg 10 picked over reg 1, whose cold score was better)."""
    model = sa.ExplicitALS(factors=3, iterations=3, random_state=0)
    folds = list(KFold(3, random_state=0).split(ratings))
    grid = [0.01, 0.1, 1.0, 10.0]

    def scores(values, **options):
        result = grid_search(model, ratings, {"regularization": values}, cv=folds, **options)
        return {r["params"]["regularization"]: r["mean_rmse"] for r in result.results_}

    assert scores(grid) == scores(grid[::-1])
    assert scores(grid, warm_start=True) != scores(grid[::-1], warm_start=True)
    # a warm start never continues the same setting, nor one that differs in how long
    # or from where it is fitted ({"iterations": [1, 1, 2]} gave three fits of 1, 2, 4)
    for name, values in (("iterations", [1, 1, 2]), ("random_state", [0, 0, 1])):
        warm = grid_search(model, ratings, {name: values}, cv=folds, warm_start=True)
        cold = grid_search(model, ratings, {name: values}, cv=folds)
        assert [r["mean_rmse"] for r in warm.results_] == [r["mean_rmse"] for r in cold.results_]
    with pytest.raises(ValueError, match="warm_start must be True or False; got 'yes'"):
        grid_search(model, ratings, {"factors": [2]}, cv=folds, warm_start="yes")


def test_ranking_options_reach_the_metrics(ratings):
    """cross_validate and grid_search scored with exclude_seen=True and no threshold only."""
    from sparseals.metrics import evaluate

    model = sa.ExplicitALS(factors=3, iterations=3, random_state=0)
    folds = list(KFold(3, random_state=0).split(ratings))
    fitted = [sa.ExplicitALS(**model.get_params()).fit(train) for train, _ in folds]
    for options in ({"exclude_seen": False}, {"threshold": 4.0},
                    {"exclude_seen": False, "threshold": 3.5}):
        expected = [evaluate(f, test, ("ndcg", "auc"), k=5, **options)
                    for f, (_, test) in zip(fitted, folds)]
        scores = cross_validate(model, ratings, cv=folds, metrics=("ndcg", "auc"), k=5,
                                **options)
        for name in ("ndcg", "auc"):
            assert scores[name].tolist() == [e[name] for e in expected]
        result = grid_search(model, ratings, {"factors": [3]}, cv=folds, metric="auc", k=5,
                             **options)
        assert result.best_score_ == pytest.approx(np.mean([e["auc"] for e in expected]),
                                                   rel=1e-12)
    plain = cross_validate(model, ratings, cv=folds, metrics="ndcg", k=5)["ndcg"]
    assert plain.tolist() != cross_validate(model, ratings, cv=folds, metrics="ndcg", k=5,
                                            exclude_seen=False)["ndcg"].tolist()


@pytest.mark.parametrize("option, message", [
    ({"k": 0}, r"k must be a positive integer"),
    ({"clip": (5, 1)}, r"clip must be a pair of numbers"),
    ({"exclude_seen": "no"}, r"exclude_seen must be True or False"),
    ({"threshold": "4"}, r"threshold must be a number or None"),
    # passed, was fitted, then failed with "no held-out rating is relevant (threshold=nan);
    # lower the threshold"
    ({"threshold": float("nan")}, r"threshold is NaN, which no rating is at least"),
])
def test_bad_scoring_options_fail_before_any_fit(ratings, option, message, monkeypatch):
    """A bad k or clip was found after the first fold's fit."""
    import sparseals.model_selection as ms

    def no_fit(*args, **kwargs):
        raise AssertionError("fitted before checking the options")

    monkeypatch.setattr(ms, "_fit_copy", no_fit)
    with pytest.raises(ValueError, match=message):
        cross_validate(sa.ExplicitALS(), ratings, cv=3, metrics="ndcg", **option)
    with pytest.raises(ValueError, match=message):
        grid_search(sa.ExplicitALS(), ratings, {"factors": [2]}, cv=3, metric="ndcg", **option)


def test_warm_start_copies_the_previous_factors(ratings):
    previous = sa.ExplicitALS(factors=3, iterations=5, random_state=0).fit(ratings)
    model = sa.ExplicitALS(factors=3, iterations=1, random_state=1)
    model._initialise(ratings, np.random.default_rng(1), np.dtype("float32"))
    model._warm_start(previous)
    np.testing.assert_array_equal(model.item_factors_, previous.item_factors_)
    warm = sa.ExplicitALS(factors=3, iterations=1, random_state=1)._fit(ratings, init=previous)
    cold = sa.ExplicitALS(factors=3, iterations=1, random_state=1).fit(ratings)
    assert warm.loss_history_[0] < cold.loss_history_[0]


def test_validation_errors(ratings):
    with pytest.raises(TypeError, match="ratings must be a sparseals Ratings; got ndarray"):
        train_test_split(np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"test_size must be a fraction strictly between 0 and "
                                         r"1; got 1.5"):
        train_test_split(ratings, test_size=1.5)
    with pytest.raises(ValueError, match=r"test_size=0.0001 of 900 ratings leaves no test"):
        train_test_split(ratings, test_size=0.0001)
    with pytest.raises(ValueError, match=r"min_ratings=2 must exceed k=2"):
        leave_k_out(ratings, k=2, min_ratings=2)
    with pytest.raises(ValueError, match=r"no user has min_ratings=10000 ratings"):
        leave_k_out(ratings, min_ratings=10_000)
    with pytest.raises(ValueError, match=r"timestamps has 3 entries for 900 ratings; give one per "
                                         r"rating, aligned with ratings.by_user, as the readers "
                                         r"and Ratings.from_dataframe\(..., timestamp=column\)"):
        split_by_time(ratings, [1, 2, 3])
    with pytest.raises(ValueError, match=r"at=5000 puts no rating in the test part"):
        split_by_time(ratings, np.arange(ratings.nnz), at=5000)
    with pytest.raises(ValueError, match=r"n_splits must be at least 2; got 1"):
        KFold(1)
    with pytest.raises(ValueError, match=r"n_splits must be between 2 and the number of "
                                         r"ratings \(900\); got 901"):
        KFold(901).split(ratings)  # at the call, not at the first fold
    with pytest.raises(ValueError, match=r"shuffle must be True or False; got 'False'"):
        KFold(3, shuffle="False")  # a truthy string: it shuffled
    with pytest.raises(ValueError, match=r"random_state must be None"):
        KFold(3, random_state="seed")
    changed = KFold(3)
    changed.n_splits = 1  # set after the constructor: one fold with an empty train part
    with pytest.raises(ValueError, match=r"n_splits must be at least 2; got 1"):
        changed.split(ratings)
    with pytest.raises(ValueError, match=r"cv must be a number of folds, a KFold or an iterable"):
        cross_validate(sa.ExplicitALS(), ratings, cv=None)
    with pytest.raises(ValueError, match=r"unknown metric 'accuracy'"):
        cross_validate(sa.ExplicitALS(), ratings, metrics=["accuracy"])
    with pytest.raises(ValueError, match=r"param_grid names 'lambda', which ExplicitALS does not "
                                         r"have"):
        grid_search(sa.ExplicitALS(), ratings, {"lambda": [1]})
    with pytest.raises(ValueError, match=r"param_grid\['factors'\] must be a non-empty list"):
        grid_search(sa.ExplicitALS(), ratings, {"factors": []})
    with pytest.raises(ValueError, match=r"param_grid must be a non-empty dict"):
        grid_search(sa.ExplicitALS(), ratings, {})


def test_a_model_class_or_other_object_is_named(ratings):
    # the class itself failed inside get_params with "missing 1 required positional argument"
    with pytest.raises(TypeError, match=r"got the class ExplicitALS \(call it: ExplicitALS"):
        cross_validate(sa.ExplicitALS, ratings, cv=2)
    with pytest.raises(TypeError, match=r"got the class ImplicitALS"):
        grid_search(sa.ImplicitALS, ratings, {"factors": [2]}, cv=2)
    with pytest.raises(TypeError, match=r"model must be an ExplicitALS or ImplicitALS; got str"):
        cross_validate("als", ratings, cv=2)


@pytest.mark.parametrize("seed", [-1, 1.5, "a", True])
def test_bad_random_state_is_named(ratings, seed):
    message = r"random_state must be None, a non-negative int, or a numpy Generator"
    for split in (lambda: train_test_split(ratings, random_state=seed),
                  lambda: leave_k_out(ratings, random_state=seed),
                  lambda: list(KFold(3, random_state=seed).split(ratings))):
        with pytest.raises(ValueError, match=message):
            split()
    with pytest.raises(ValueError, match=r"seed must be None, a non-negative int"):
        synthetic(30, 20, 100, seed=seed)


def test_legacy_random_state_and_seed_sequence_are_accepted(ratings):
    legacy = train_test_split(ratings, random_state=np.random.RandomState(0))[1]
    again = train_test_split(ratings, random_state=np.random.RandomState(0))[1]
    np.testing.assert_array_equal(legacy.by_user.indices, again.by_user.indices)
    sequence = np.random.SeedSequence(7)
    model = sa.ExplicitALS(factors=2, iterations=1, random_state=sequence).fit(ratings)
    assert model.loss_history_[0] > 0
    with pytest.raises(ValueError, match=r"unknown metric 'r2'"):
        grid_search(sa.ExplicitALS(), ratings, {"factors": [2]}, metric="r2")
