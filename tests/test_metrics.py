"""Metrics against slow references (tests/naive.py), and their validation errors."""

import numba
import numpy as np
import pytest

import naive
import sparseals as sa
from sparseals import metrics
from sparseals.datasets import synthetic
from sparseals.model_selection import train_test_split

TOPK = {"precision": metrics.precision_at_k, "recall": metrics.recall_at_k,
        "ndcg": metrics.ndcg_at_k, "map": metrics.map_at_k, "hit_rate": metrics.hit_rate_at_k}


@pytest.fixture(scope="module", params=["float32", "float64"])
def fitted(request):
    ratings = synthetic(120, 60, 1800, seed=3, dtype=request.param)
    train, test = train_test_split(ratings, test_size=0.25, random_state=1)
    model = sa.ExplicitALS(factors=4, biases=True, iterations=4, dtype=request.param,
                           random_state=0).fit(train)
    return model, train, test


def rows_of(ratings, threshold=None):
    """{user: items} of a Ratings (only values >= threshold)."""
    out = {}
    rows = ratings.by_user
    for u in range(ratings.shape[0]):
        sl = slice(rows.indptr[u], rows.indptr[u + 1])
        items = rows.indices[sl][rows.data[sl] >= (threshold if threshold is not None else -np.inf)]
        if len(items):
            out[u] = items.tolist()
    return out


def dense_scores(model):
    n_users, n_items = len(model.user_factors_), len(model.item_factors_)
    users, items = np.divmod(np.arange(n_users * n_items), n_items)
    return model.predict(users, items).reshape(n_users, n_items)


def test_rmse_and_mae_match_reference(fitted):
    model, _, test = fitted
    rows = rows_of(test)
    truth = np.concatenate([test.by_user.data[test.by_user.indptr[u]:test.by_user.indptr[u + 1]]
                            for u in rows])
    pred = np.concatenate([[model.predict(u, i) for i in items] for u, items in rows.items()])
    tol = dict(rtol=1e-5)
    np.testing.assert_allclose(metrics.rmse(model, test), np.sqrt(np.mean((pred - truth) ** 2)),
                               **tol)
    np.testing.assert_allclose(metrics.mae(model, test), np.mean(np.abs(pred - truth)), **tol)
    clipped = np.clip(pred, 1, 5)
    np.testing.assert_allclose(metrics.rmse(model, test, clip=(1, 5)),
                               np.sqrt(np.mean((clipped - truth) ** 2)), **tol)


@pytest.mark.parametrize("k", [1, 5, 70])  # 70 > the number of items: short lists
@pytest.mark.parametrize("exclude_seen", [True, False])
@pytest.mark.parametrize("threshold", [None, 4.0])
def test_topk_metrics_match_reference(fitted, k, exclude_seen, threshold):
    model, train, test = fitted
    seen = rows_of(train) if exclude_seen else {}
    reference = naive.ranking_metrics(dense_scores(model), seen, rows_of(test, threshold), k)
    together = metrics.evaluate(model, test, list(TOPK), k=k, exclude_seen=exclude_seen,
                                threshold=threshold)
    for name, function in TOPK.items():
        value = function(model, test, k=k, exclude_seen=exclude_seen, threshold=threshold)
        np.testing.assert_allclose(value, np.mean(reference[name]), rtol=1e-12, err_msg=name)
        assert together[name] == value


def test_k_far_past_the_item_count_needs_no_memory_for_it(fitted):
    # the top-k lists were padded to k columns: k = 1e9 asked for 160 GiB
    model, _, test = fitted
    huge = metrics.evaluate(model, test, list(TOPK), k=10**9)
    past = metrics.evaluate(model, test, list(TOPK), k=70)
    for name in TOPK:
        scale = 70 / 10**9 if name == "precision" else 1.0
        np.testing.assert_allclose(huge[name], past[name] * scale, rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("exclude_seen", [True, False])
def test_auc_matches_reference(fitted, exclude_seen):
    model, train, test = fitted
    seen = rows_of(train) if exclude_seen else {}
    reference = naive.auc(dense_scores(model), seen, rows_of(test))
    np.testing.assert_allclose(metrics.auc(model, test, exclude_seen=exclude_seen),
                               np.mean(reference), rtol=1e-12)


def test_kernels_on_a_hand_made_case():
    from sparseals._kernels.ranking import auc_rows, auc_scratch, topk_rows

    top = np.array([[3, 1, 2], [0, -1, -1]], dtype=np.int32)
    rel = np.array([1, 2, 5, 0], dtype=np.int32)
    out = np.empty((2, 5))
    topk_rows(top, np.array([0, 3]), np.array([3, 4]), rel, out)
    ideal = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    np.testing.assert_allclose(out[0], [2 / 3, 2 / 3, (1 / np.log2(3) + 1 / np.log2(4)) / ideal,
                                        (1 / 2 + 2 / 3) / 3, 1])
    np.testing.assert_allclose(out[1], [1 / 3, 1, 1, 1, 1])
    # ties count one half: relevant item 0 ties with one of two irrelevant items
    scores = np.array([[0.5, 0.5, 0.1, 9.0]])
    result = np.empty(1)
    query, factors = np.ones((1, 1)), scores.T.copy()  # query @ factors.T == scores
    scratch = auc_scratch(numba.config.NUMBA_NUM_THREADS, 4, 1, 2, scores.dtype, 1)
    auc_rows(query, np.array([0]), factors, np.array([0]), np.array([1]),
             np.array([3], dtype=np.int32), np.array([0]), np.array([1]),
             np.array([0], dtype=np.int32), result, scratch)
    assert result[0] == 0.75
    # two relevant items (0 and 2) against one irrelevant (1); item 3 excluded
    auc_rows(query, np.array([0]), factors, np.array([0]), np.array([1]),
             np.array([3], dtype=np.int32), np.array([0]), np.array([2]),
             np.array([0, 2], dtype=np.int32), result, scratch)
    assert result[0] == (0.5 + 0.0) / 2
    assert not scratch[0].any()  # the flags are left zeroed for the next row


def test_auc_scratch_is_bounded_by_the_users_and_the_factors(monkeypatch):
    """With 2 items and K = 4096 a block of 2²⁰ users' factors was allocated per thread
    (32 GiB) for 2 users: a MemoryError."""
    from sparseals._kernels import ranking

    blocks = []
    original = ranking.auc_scratch
    monkeypatch.setattr(ranking, "auc_scratch",
                        lambda *a: blocks.append(a[-1]) or original(*a))
    train = sa.Ratings.from_coo([0, 1, 2, 3], [0, 1, 0, 1], [1.0, 1, 1, 1])
    test = sa.Ratings.from_coo([0, 1], [1, 0], [1.0, 1], shape=(4, 2))
    model = sa.ImplicitALS(factors=2, iterations=1, random_state=0).fit(train)
    rng = np.random.default_rng(0)
    model.user_factors_ = rng.standard_normal((4, 4096)).astype(np.float32)
    model.item_factors_ = rng.standard_normal((2, 4096)).astype(np.float32)
    scores = model.user_factors_ @ model.item_factors_.T
    expected = np.mean([float(scores[0, 1] > scores[0, 0]), float(scores[1, 0] > scores[1, 1])])
    assert metrics.auc(model, test, exclude_seen=False) == expected
    assert blocks == [2]


def test_auc_kernel_with_many_ties_matches_reference():
    """Scores of a few distinct values, so most pairs tie. Rows with up to 13 relevant items
    take the passes (four relevant items a pass, and the rest one by one); rows with more
    than PASSES_UP_TO take the binary search."""
    from sparseals._kernels.ranking import PASSES_UP_TO, auc_rows, auc_scratch

    rng = np.random.default_rng(5)
    n_rows, n_cols = 40, PASSES_UP_TO + 300
    scores = rng.integers(0, 4, (n_rows, n_cols)).astype(np.float32)
    seen, relevant = {}, {}
    for r in range(n_rows):
        chosen = rng.permutation(n_cols)
        many = r % 10 == 0
        count = rng.integers(PASSES_UP_TO + 1, n_cols - 100) if many else rng.integers(1, 14)
        relevant[r] = np.sort(chosen[:count])
        # some excluded items are also relevant: relevant wins
        seen[r] = np.sort(np.concatenate([chosen[-50:-50 + rng.integers(0, 8)],
                                          relevant[r][:1]]))
    def csr(rows):
        indptr = np.cumsum([0] + [len(rows[r]) for r in range(n_rows)])
        return indptr[:-1], indptr[1:], np.concatenate([rows[r] for r in range(n_rows)]).astype(np.int32)
    out = np.empty(n_rows)
    # identity queries: the kernel's products reproduce the scores exactly, in blocks of 3
    query, factors = np.eye(n_rows, dtype=np.float32), scores.T.copy()
    auc_rows(query, np.arange(n_rows), factors, *csr(seen), *csr(relevant), out,
             auc_scratch(numba.config.NUMBA_NUM_THREADS, n_cols, n_rows, n_cols, scores.dtype, 3))
    np.testing.assert_allclose(out, naive.auc(scores, seen, relevant), rtol=1e-12)


def test_perfect_and_reversed_rankings():
    # a model whose scores are the held-out ratings themselves ranks them perfectly
    dense = np.full((3, 6), np.nan)
    dense[:, :3] = 1.0
    model = sa.ExplicitALS(factors=2, iterations=1, random_state=0).fit(dense)
    model.user_factors_[:] = [[1, 0], [1, 0], [1, 0]]
    model.item_factors_[:] = [[0, 0], [0, 0], [0, 0], [3, 0], [2, 0], [1, 0]]
    test = sa.Ratings.from_coo([0, 1, 2], [3, 4, 5], [1.0, 1.0, 1.0], shape=(3, 6))
    assert metrics.hit_rate_at_k(model, test, k=1) == pytest.approx(1 / 3)
    assert metrics.ndcg_at_k(model, test, k=3) == pytest.approx(
        np.mean([1, 1 / np.log2(3), 1 / np.log2(4)]))
    assert metrics.auc(model, test) == pytest.approx(np.mean([1, 0.5, 0]))


def test_validation_errors(fitted):
    model, train, test = fitted
    with pytest.raises(ValueError, match=r"not fitted: call fit first"):
        metrics.rmse(sa.ExplicitALS(), test)
    with pytest.raises(TypeError, match="ratings must be a sparseals Ratings"):
        metrics.rmse(model, test.csr)
    bigger = sa.Ratings.from_coo([0, 200], [0, 1], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"ratings has shape \(201, 2\) but the model was "
                                         r"fitted on \(120, 60\)"):
        metrics.mae(model, bigger)
    renamed = sa.Ratings(test.by_user, test.by_item, test.shape, test.user_ids + 1, test.item_ids)
    with pytest.raises(ValueError, match="ratings' user ids differ from the model's"):
        metrics.ndcg_at_k(model, renamed)
    with pytest.raises(ValueError, match=r"k must be a positive integer; got 0"):
        metrics.precision_at_k(model, test, k=0)
    with pytest.raises(ValueError, match=r"clip must be a pair of numbers \(low, high\).*got "
                                         r"\(5, 1\)"):
        metrics.rmse(model, test, clip=(5, 1))
    with pytest.raises(ValueError, match=r"clip must be a pair of numbers .*got \(nan, 5\)"):
        metrics.rmse(model, test, clip=(np.nan, 5))  # was a silent NaN
    with pytest.raises(ValueError, match=r"no held-out rating is relevant \(threshold=99\)"):
        metrics.recall_at_k(model, test, threshold=99)
    with pytest.raises(ValueError, match=r"threshold must be a number or None; got 'x'"):
        metrics.map_at_k(model, test, threshold="x")
    with pytest.raises(ValueError, match=r"threshold is NaN"):  # was "lower the threshold"
        metrics.auc(model, test, threshold=np.nan)
    with pytest.raises(ValueError, match=r"exclude_seen must be True or False; got 1"):
        metrics.auc(model, test, exclude_seen=1)
    with pytest.raises(ValueError, match=r"unknown metric 'rsme'; choose from"):
        metrics.evaluate(model, test, ["rsme"])
    with pytest.raises(ValueError, match="metrics must name at least one"):
        metrics.evaluate(model, test, [])
    # an option that none of the metrics asked for reads was accepted without a word
    with pytest.raises(ValueError, match=r"k must be a positive integer; got 0"):
        metrics.evaluate(model, test, ["rmse"], k=0)
    with pytest.raises(ValueError, match=r"clip must be a pair of numbers"):
        metrics.evaluate(model, test, ["ndcg"], clip=(5, 1))
    with pytest.raises(ValueError, match=r"exclude_seen must be True or False; got 'no'"):
        metrics.evaluate(model, test, ["mae"], exclude_seen="no")
    everything = sa.Ratings.from_dense(np.ones((2, 3)))
    full = sa.ExplicitALS(factors=1, iterations=1, random_state=0).fit(everything)
    with pytest.raises(ValueError, match="AUC is undefined"):
        metrics.auc(full, everything, exclude_seen=False)


@pytest.mark.parametrize("threshold", [3.3, np.float64(3.3), np.float32(3.3)])
def test_threshold_is_compared_in_the_ratings_dtype(threshold):
    """A float64 threshold of 3.3 is above the float32 rating 3.3: every rating of 3.3 was
    irrelevant ("no held-out rating is relevant"), while a Python float 3.3 kept them."""
    train = sa.Ratings.from_coo([0, 1, 2], [1, 1, 2], [1.0, 5.0, 3.3], shape=(3, 3))
    test = sa.Ratings.from_coo([0, 0, 1, 1, 2], [0, 2, 0, 2, 0], [3.3, 2.0, 3.3, 1.0, 2.0],
                               shape=(3, 3))
    model = sa.ExplicitALS(factors=2, iterations=2, random_state=0).fit(train)
    scores = dense_scores(model)
    relevant = {0: [0], 1: [0]}  # the held-out 3.3s
    for name, value in metrics.evaluate(model, test, list(TOPK) + ["auc"], k=1,
                                        threshold=threshold).items():
        if name == "auc":
            expected = np.mean(naive.auc(scores, rows_of(train), relevant))
        else:
            expected = np.mean(naive.ranking_metrics(scores, rows_of(train), relevant, 1)[name])
        assert value == pytest.approx(expected, rel=1e-12), name


def test_held_out_items_out_of_order_are_refused(fitted):
    """A Ratings built from raw arrays with each user's items in reverse order gave top-k
    metrics that missed most of them (found by binary search): recall 0.23 became 0.03 and
    NDCG 0.15 became 0.009, without an error. Every metric refuses it (Ratings' check)."""
    from sparseals.ratings import Compressed, _transpose

    model, _, test = fitted
    rows = test.by_user
    order = np.concatenate([np.arange(rows.indptr[u], rows.indptr[u + 1])[::-1]
                            for u in range(test.shape[0])])
    reversed_rows = Compressed(rows.indptr, rows.indices[order], rows.data[order])
    shuffled = sa.Ratings(reversed_rows, _transpose(reversed_rows, test.shape), test.shape)
    user = int(np.flatnonzero(np.diff(rows.indptr) > 1)[0])
    end = rows.indptr[user + 1]
    before_last, last = rows.indices[end - 2:end]
    for name in list(TOPK) + ["auc", "rmse"]:
        with pytest.raises(ValueError, match=rf"Ratings.by_user lists item {before_last} after item "
                                             rf"{last} for user {user}; a Ratings holds each "
                                             "user's items sorted and distinct"):
            metrics.evaluate(model, shuffled, [name])
    duplicated = Compressed(np.array([0, 2]), np.array([1, 1], dtype=np.int32),
                            np.array([4.0, 4.0], dtype=test.dtype))
    twice = sa.Ratings(duplicated, _transpose(duplicated, (1, test.shape[1])),
                       (1, test.shape[1]))
    with pytest.raises(ValueError, match=r"lists item 1 after item 1 for user 0"):
        metrics.recall_at_k(model, twice)


def test_a_held_out_item_also_in_training_is_missed_by_top_k_and_ranked_by_auc():
    """What the module docstring says of train and test parts that overlap."""
    train = sa.Ratings.from_coo([0, 0], [0, 1], [1.0, 1.0], shape=(1, 4))
    model = sa.ExplicitALS(factors=1, iterations=1, random_state=0).fit(train)
    model.user_factors_[:] = [[1.0]]
    model.item_factors_[:] = [[4.0], [3.0], [2.0], [1.0]]  # scores 4 > 3 > 2 > 1
    test = sa.Ratings.from_coo([0, 0], [1, 2], [1.0, 1.0], shape=(1, 4))  # item 1 seen
    assert metrics.recall_at_k(model, test, k=4) == 0.5  # [2, 3]: item 1 is never listed
    assert metrics.ndcg_at_k(model, test, k=4) == pytest.approx(1 / (1 + 1 / np.log2(3)))
    assert metrics.auc(model, test) == 1.0  # candidates 1, 2 (relevant) and 3
    assert metrics.recall_at_k(model, test, k=4, exclude_seen=False) == 1.0
