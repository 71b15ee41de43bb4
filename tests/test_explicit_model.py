"""ExplicitALS: convergence properties, scoring, parameters and errors."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import sparseals as sa
from naive import explicit_loss, top_n
from sparseals._base import NotFittedError
from sparseals.datasets import seed_example, synthetic
from sparseals.metrics import rmse


def observed_sample(rng, shape=(40, 30), density=0.3):
    dense = rng.integers(1, 6, shape).astype(float)
    dense[rng.random(shape) >= density] = np.nan
    return dense


@pytest.mark.parametrize("options", [
    dict(), dict(reg_exponent=1.0), dict(biases=True), dict(nonnegative=True),
    dict(biases=True, reg_exponent=1.0, reg_users=0.5, reg_items=0.05),
])
def test_loss_never_increases_and_matches_the_reference(options):
    rng = np.random.default_rng(0)
    dense = observed_sample(rng)
    model = sa.ExplicitALS(factors=4, regularization=0.1, iterations=12, dtype="float64",
                           random_state=1, **options).fit(dense)
    history = np.array(model.loss_history_)
    assert np.all(np.diff(history) <= 1e-9 * history[:-1])
    expected = explicit_loss(dense, model.user_factors_, model.item_factors_,
                             model._reg_users, model._reg_items, model.reg_exponent,
                             model.user_biases_, model.item_biases_, model.global_mean_)
    assert history[-1] == pytest.approx(expected, rel=1e-10)


def test_nonnegative_float32_fit_follows_the_float64_fit():
    """Rows with hundreds of ratings and K = 64: float32 NNLS once dropped small positive
    factors, so the loss rose by 1.6 % at one iteration and ended 0.6 % above float64."""
    from sparseals.datasets import synthetic

    ratings = synthetic(1500, 800, 150_000, rank=10, seed=0)
    fits = [sa.ExplicitALS(factors=64, iterations=6, nonnegative=True, regularization=0.1,
                           random_state=0, dtype=dtype).fit(ratings).loss_history_
            for dtype in ("float32", "float64")]
    single, double = np.array(fits[0]), np.array(fits[1])
    assert (np.diff(single) <= 1e-5 * single[:-1]).all()
    np.testing.assert_allclose(single, double, rtol=1e-3)


@pytest.mark.parametrize("biases", [False, True])
def test_float32_loss_matches_the_float64_reference_of_its_factors(biases):
    # the loss pass sums each dot product in float32: the history must still be the
    # loss of the float32 factors to float32 accuracy, at a K wide enough to vectorise
    rng = np.random.default_rng(5)
    dense = rng.integers(1, 6, (300, 200)).astype(float)
    dense[rng.random(dense.shape) >= 0.2] = np.nan
    model = sa.ExplicitALS(factors=48, regularization=0.5, iterations=3, dtype="float32",
                           biases=biases, random_state=0).fit(dense)
    expected = explicit_loss(dense, model.user_factors_, model.item_factors_,
                             model._reg_users, model._reg_items, model.reg_exponent,
                             model.user_biases_, model.item_biases_, model.global_mean_)
    assert model.loss_history_[-1] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("options", [dict(), dict(biases=True), dict(nonnegative=True)])
def test_loss_from_the_item_step_and_the_long_items_is_the_full_loss(monkeypatch, dtype,
                                                                     options):
    # the item step keeps at most 150 ratings gathered here: the loss of the other items'
    # ratings comes from a pass over the users
    import sparseals.solvers

    monkeypatch.setattr(sparseals.solvers, "_explicit_gathered_rows", lambda dim, dtype: 150)
    rng = np.random.default_rng(8)
    dense = rng.integers(1, 6, (400, 30)).astype(float)
    density = np.where(np.arange(30) < 10, 0.6, 0.1)  # items 0-9: ~240 ratings, 10-29: ~40
    dense[rng.random(dense.shape) >= density] = np.nan
    model = sa.ExplicitALS(factors=6, regularization=0.1, iterations=3, dtype=dtype,
                           random_state=0, **options).fit(dense)
    expected = explicit_loss(dense, model.user_factors_, model.item_factors_,
                             model._reg_users, model._reg_items, model.reg_exponent,
                             model.user_biases_, model.item_biases_, model.global_mean_)
    rel = 1e-10 if dtype == "float64" else 1e-6
    assert model.loss_history_[-1] == pytest.approx(expected, rel=rel)
    assert model.loss_history_[-1] == pytest.approx(
        model._loss(sa.Ratings.from_dense(dense, dtype=dtype)), rel=rel)


def test_fully_observed_converges_to_the_rank_k_svd_error():
    dense = seed_example(0)
    model = sa.ExplicitALS(factors=2, regularization=0.0, iterations=400, dtype="float64",
                           random_state=0).fit(dense)
    singular_values = np.linalg.svd(dense, compute_uv=False)
    eckart_young = (singular_values[2:] ** 2).sum()
    assert model.loss_history_[-1] == pytest.approx(eckart_young, rel=1e-6)


@pytest.mark.parametrize("dense", [np.ones((6, 5)), np.random.default_rng(2).random((50, 40))])
@pytest.mark.parametrize("biases", [False, True])
def test_more_factors_than_columns_with_no_regularisation_stays_bounded_in_float32(dense,
                                                                                    biases):
    # both sides' Gram matrices are singular; float32 rounding once passed for pivots,
    # and the item factors grew to 1e10 (loss 21 instead of 0) or overflowed to NaN
    model = sa.ExplicitALS(factors=64, regularization=0.0, iterations=40, dtype="float32",
                           biases=biases, random_state=0).fit(dense)
    assert model.n_singular_ == sum(dense.shape)  # every row of both sides
    assert np.abs(model.user_factors_).max() < 100 and np.abs(model.item_factors_).max() < 100
    assert model.loss_history_[-1] < 1e-6 * (dense ** 2).sum()


def test_non_negative_fit_with_biases_and_no_regularisation_does_not_raise_its_loss():
    # found by test_fuzz: the NNLS solver extended its factor with a pivot of rounding
    # (5 ratings per row, 6 unknowns) and the float32 loss went from 0.98 to 925,056
    dense = np.full((7, 5), 255.0)
    dense[0, 3:] = 0.0
    dense[2, 2] = 254.0
    model = sa.ExplicitALS(factors=5, regularization=0.0, biases=True, nonnegative=True,
                           iterations=4, dtype="float32", random_state=0).fit(dense)
    loss = np.array(model.loss_history_)
    assert np.all(np.diff(loss) <= 1e-6 * (dense ** 2).sum()), loss


@pytest.mark.parametrize("density", [0.3, 1.0])  # the per-row and the shared-Gram paths
def test_float32_fit_with_biases_follows_float64_on_ratings_of_ten_thousand(density):
    """Ratings of 10⁴ with biases: the float32 Cholesky took the bias entry of every item's
    system for rounding beside user factors of 10⁴ and solved it with a ridge, at every
    iteration: the item biases stayed near 0 and the loss ended 16× (fully observed: 111×)
    the float64 one, with n_singular_ = 60."""
    rng = np.random.default_rng(0)
    low_rank = rng.standard_normal((80, 3)) @ rng.standard_normal((3, 60))
    ratings = 1e4 * (low_rank + rng.standard_normal(80)[:, None] + rng.standard_normal(60) + 3)
    ratings[rng.random(ratings.shape) >= density] = np.nan
    fits = [sa.ExplicitALS(factors=3, regularization=0.1, biases=True, iterations=6,
                           dtype=dtype, random_state=0).fit(ratings)
            for dtype in ("float32", "float64")]
    assert fits[0].n_singular_ == 0
    np.testing.assert_allclose(fits[0].loss_history_, fits[1].loss_history_, rtol=1e-4)
    np.testing.assert_allclose(fits[0].item_biases_, fits[1].item_biases_, rtol=1e-3,
                               atol=1e-3 * np.abs(fits[1].item_biases_).max())


def test_planted_low_rank_matrix_is_recovered_from_a_sample():
    rng = np.random.default_rng(42)
    truth = rng.standard_normal((300, 5)) @ rng.standard_normal((5, 400))
    noisy = truth + rng.normal(0.0, 0.1, truth.shape)
    observed = rng.random(truth.shape) < 0.2
    model = sa.ExplicitALS(factors=5, regularization=0.5, iterations=30, random_state=0)
    model.fit(np.where(observed, noisy, np.nan))
    users, items = np.nonzero(~observed)
    error = model.predict(users, items) - truth[users, items]
    assert np.sqrt(np.mean(error ** 2)) < 0.15


def test_thread_count_does_not_change_the_result():
    rng = np.random.default_rng(3)
    dense = observed_sample(rng, (200, 150), 0.2)
    fits = [sa.ExplicitALS(factors=8, iterations=3, random_state=5, num_threads=n,
                           biases=True).fit(dense) for n in (1, 2)]
    np.testing.assert_array_equal(fits[0].user_factors_, fits[1].user_factors_)
    np.testing.assert_array_equal(fits[0].item_factors_, fits[1].item_factors_)
    assert fits[0].loss_history_ == fits[1].loss_history_


@pytest.mark.parametrize("block_rows", [2048, 64])
@pytest.mark.parametrize("biases", [False, True])
def test_thread_count_does_not_change_a_fully_observed_fit(monkeypatch, block_rows, biases):
    """The shared-Gram path ran its products on BLAS's own threads, which split the work
    by their count: 1 and 2 threads gave factors 1.8e-5 apart (float32)."""
    from sparseals import solvers

    monkeypatch.setattr(solvers, "_ROTATION_ROWS", block_rows)  # one block, or several
    dense = np.random.default_rng(0).integers(1, 6, size=(300, 1000)).astype(float)
    fits = [sa.ExplicitALS(factors=32, iterations=3, random_state=0, num_threads=n,
                           biases=biases).fit(dense) for n in (1, 2)]
    np.testing.assert_array_equal(fits[0].user_factors_, fits[1].user_factors_)
    np.testing.assert_array_equal(fits[0].item_factors_, fits[1].item_factors_)
    assert fits[0].loss_history_ == fits[1].loss_history_
    if biases:
        np.testing.assert_array_equal(fits[0].user_biases_, fits[1].user_biases_)


def test_fully_observed_ratings_with_rows_out_of_column_order_are_refused():
    """The shared-Gram path read each side's values as a dense matrix in storage order: a
    Ratings built from compressed arrays whose rows list their columns in another order
    fitted a permuted matrix (loss 14.0 where the same ratings in order reach 13.6). Such a
    Ratings breaks its contract (sorted rows) and is refused, as the metrics refuse it."""
    from sparseals.ratings import Compressed, Ratings

    dense = np.random.default_rng(0).integers(1, 6, size=(6, 4)).astype(float)
    by_user, by_item = sp.csr_matrix(dense), sp.csc_matrix(dense)
    backwards = Compressed(by_user.indptr, by_user.indices.reshape(6, 4)[:, ::-1].ravel(),
                           by_user.data.reshape(6, 4)[:, ::-1].ravel())
    shuffled = Ratings(backwards, Compressed(by_item.indptr, by_item.indices, by_item.data),
                       dense.shape)
    np.testing.assert_array_equal(shuffled.to_dense(), dense)
    model = sa.ExplicitALS(factors=2, regularization=0.0, iterations=30, dtype="float64",
                           random_state=0)
    with pytest.raises(ValueError, match=r"Ratings.by_user lists item 2 after item 3 for user 0; "
                                         r"a Ratings holds each user's items sorted and distinct"):
        model.fit(shuffled)
    by_item_backwards = Ratings(Compressed(by_user.indptr, by_user.indices, by_user.data),
                                Compressed(by_item.indptr,
                                           by_item.indices.reshape(4, 6)[:, ::-1].ravel(),
                                           by_item.data.reshape(4, 6)[:, ::-1].ravel()),
                                dense.shape)
    with pytest.raises(ValueError, match=r"Ratings.by_item lists user 4 after user 5 for item 0"):
        model.fit(by_item_backwards)


def test_singular_rows_are_counted_alike_on_the_fully_observed_path():
    """The shared-Gram path counted its one singular system as 1 where the sparse path
    counted the rows that share it."""
    dense = np.random.default_rng(0).standard_normal((60, 40))
    almost = dense.copy()
    almost[0, 0] = np.nan  # the same fit on the per-row path
    counts = [sa.ExplicitALS(factors=50, regularization=0, iterations=2, random_state=0)
              .fit(data).n_singular_ for data in (dense, almost)]
    assert counts[0] == counts[1] and counts[0] >= 60


@pytest.mark.parametrize("replace", [
    lambda m: setattr(m, "item_factors_", np.hstack([m.item_factors_, m.item_factors_[:, :1]])),
    lambda m: setattr(m, "item_factors_", m.item_factors_[:3].copy()),
    lambda m: setattr(m, "item_factors_", m.item_factors_.astype(np.float64)),
    lambda m: setattr(m, "user_factors_", m.user_factors_.astype(">f4")),
    lambda m: setattr(m, "item_biases_", m.item_biases_.astype(np.float64)),
    lambda m: setattr(m, "user_biases_", m.user_biases_[:-1].copy()),
    lambda m: [setattr(m, name, getattr(m, name)[:3].copy())
               for name in ("item_factors_", "item_biases_", "item_ids_")],
], ids=["K+1 columns", "fewer rows", "one side float64", "big-endian", "float64 biases",
        "short biases", "fewer items than the seen items reach"])
@pytest.mark.parametrize("call", [
    lambda m, r, p: m.recommend(np.arange(10)), lambda m, r, p: m.similar_items(0),
    lambda m, r, p: m.predict([0], [1]), lambda m, r, p: m.fold_in([0, 1], [3.0, 4.0]),
    lambda m, r, p: m.partial_fit_users([0, 1], r.csr[:2]),
    lambda m, r, p: m.set_params(warm_start=True, iterations=1).fit(r),
    lambda m, r, p: rmse(m, r), lambda m, r, p: m.save(p),
], ids=["recommend", "similar_items", "predict", "fold_in", "partial_fit_users", "warm start",
        "rmse", "save"])
def test_fitted_arrays_replaced_by_mismatched_ones_are_refused(tmp_path, replace, call):
    """Wider or shorter item factors ran the kernels out of bounds (silently, or garbage
    exclusions); one side of another dtype or byte order failed inside numba; a warm
    start dropped such item factors or biases without a word and restarted them. Item
    arrays and ids all cut short passed: recommend read the seen items' exclusions out
    of bounds in numba (garbage results)."""
    ratings = synthetic(40, 30, 400, seed=0)
    model = sa.ExplicitALS(factors=4, iterations=2, biases=True, random_state=0).fit(ratings)
    replace(model)
    with pytest.raises(ValueError, match=r"were the fitted arrays replaced after the fit\?"):
        call(model, ratings, tmp_path / "model.npz")


def test_thread_count_is_checked_by_every_call_that_takes_it():
    model = sa.ExplicitALS(factors=2, iterations=2, random_state=0).fit(np.eye(4) + 1)
    for call in (lambda m: m.recommend(0), lambda m: m.similar_items(0),
                 lambda m: m.fold_in([0], [1.0])):
        with pytest.raises(ValueError, match="num_threads must be an integer or None; got '2'"):
            call(model.set_params(num_threads="2"))


def test_float32_agrees_with_float64():
    rng = np.random.default_rng(4)
    dense = observed_sample(rng)
    single, double = (sa.ExplicitALS(factors=3, regularization=0.5, iterations=5, dtype=d,
                                     random_state=2).fit(dense) for d in ("float32", "float64"))
    assert single.user_factors_.dtype == np.float32
    np.testing.assert_allclose(single.user_factors_, double.user_factors_, rtol=1e-3, atol=1e-4)
    assert single.loss_history_[-1] == pytest.approx(double.loss_history_[-1], rel=1e-4)


def test_same_random_state_same_fit_and_inputs_of_every_kind_agree():
    rng = np.random.default_rng(5)
    dense = observed_sample(rng)
    ratings = sa.Ratings.from_dense(dense)
    matrix = sp.csr_matrix(ratings.csr)
    fits = [sa.ExplicitALS(factors=3, iterations=3, random_state=9).fit(x)
            for x in (dense, ratings, matrix)]
    for other in fits[1:]:
        np.testing.assert_array_equal(fits[0].item_factors_, other.item_factors_)


def test_recommend_matches_brute_force_and_never_returns_seen_items():
    rng = np.random.default_rng(6)
    dense = observed_sample(rng, (25, 60), 0.3)
    model = sa.ExplicitALS(factors=4, iterations=5, random_state=0, biases=True).fit(dense)
    scores = model.user_factors_ @ model.item_factors_.T + model.item_biases_[None, :] \
        + model.user_biases_[:, None] + model.global_mean_
    items, values = model.recommend(np.arange(25), n=7)
    assert items.shape == (25, 7)
    for user in range(25):
        seen = np.flatnonzero(~np.isnan(dense[user]))
        np.testing.assert_array_equal(items[user], top_n(scores[user], 7, seen))
        np.testing.assert_allclose(values[user], scores[user, items[user]], rtol=1e-5)
        assert not set(items[user]) & set(seen)
    single_items, single_scores = model.recommend(3, n=7)
    np.testing.assert_array_equal(single_items, items[3])
    everything, _ = model.recommend(0, n=60, exclude_seen=False)
    np.testing.assert_array_equal(everything, top_n(scores[0], 60))


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32])
def test_queries_take_indices_of_any_integer_dtype(dtype):
    """recommend computed users + 1 in the caller's dtype: int8 127 wrapped to -128 (no
    items at all) and uint8 255 to 0 (seen items recommended)."""
    rng = np.random.default_rng(7)
    dense = observed_sample(rng, (300, 50), 0.2)
    model = sa.ExplicitALS(factors=3, iterations=2, random_state=0).fit(dense)
    users = np.array([u for u in (0, 126, 127, 254, 255, 299) if u <= np.iinfo(dtype).max])
    expected = model.recommend(users, n=50)
    narrow = model.recommend(users.astype(dtype), n=50)
    np.testing.assert_array_equal(narrow[0], expected[0])
    np.testing.assert_array_equal(narrow[1], expected[1])
    last = users[-1]
    single = model.recommend(dtype(last), n=50)
    np.testing.assert_array_equal(single[0], expected[0][-1])
    assert not set(single[0]) & set(np.flatnonzero(~np.isnan(dense[last])))
    np.testing.assert_array_equal(model.predict(users.astype(dtype), users.astype(dtype) % 50),
                                  model.predict(users, users % 50))


@pytest.mark.parametrize("prune", [False, True])
def test_recommend_with_biases_on_either_path(prune, monkeypatch):
    """Few users, and many users (the pruned path), both add the biases to the scores in
    the kernel. Integer factors and biases: exact ties."""
    import sparseals._base as base

    monkeypatch.setattr(base, "_PRUNE_MIN_QUERIES", 1 if prune else 10 ** 9)
    rng = np.random.default_rng(8)
    dense = observed_sample(rng, (30, 50), 0.2)
    model = sa.ExplicitALS(factors=3, iterations=1, random_state=0, biases=True).fit(dense)
    model.user_factors_ = rng.integers(-2, 3, (30, 3)).astype(np.float32)
    model.item_factors_ = rng.integers(-2, 3, (50, 3)).astype(np.float32)
    model.user_biases_ = rng.integers(-2, 3, 30).astype(np.float32)
    model.item_biases_ = rng.integers(-2, 3, 50).astype(np.float32)
    model.global_mean_ = 3.0
    scores = (model.user_factors_ @ model.item_factors_.T + model.item_biases_[None, :]
              + model.user_biases_[:, None] + model.global_mean_)
    items, got = model.recommend(np.arange(30), n=9)
    for user in range(30):
        seen = np.flatnonzero(~np.isnan(dense[user]))
        np.testing.assert_array_equal(items[user], top_n(scores[user], 9, seen))
        np.testing.assert_array_equal(got[user], scores[user, items[user]])


def test_pruned_recommend_with_biases_finds_small_items_with_large_biases(monkeypatch):
    """Pruning skips the items of small norm once the heaps are good; with biases added in
    the kernel its bound must count the largest bias still ahead, or a small-norm item
    with a large bias is lost. Scores no longer depend on how many users are asked."""
    import sparseals._base as base

    monkeypatch.setattr(base, "_TOP_N_BLOCK", (16, 64))
    rng = np.random.default_rng(4)
    dense = observed_sample(rng, (600, 300), 0.05)
    model = sa.ExplicitALS(factors=4, iterations=1, random_state=0, biases=True).fit(dense)
    model.item_factors_ *= np.append(np.geomspace(3.0, 1.0, 100), np.full(200, 1e-3))[
        rng.permutation(300), None].astype(np.float32)
    small = np.flatnonzero(np.linalg.norm(model.item_factors_, axis=1) < 0.01)
    model.item_biases_[:] = 0.0
    model.item_biases_[small[:3]] = 50.0  # best for everyone who has not rated them
    scores = (model.user_factors_ @ model.item_factors_.T + model.item_biases_[None, :]
              + model.user_biases_[:, None] + model.global_mean_)
    monkeypatch.setattr(base, "_PRUNE_MIN_QUERIES", 1)
    items, got = model.recommend(np.arange(600), n=5)
    for user in range(600):
        seen = np.flatnonzero(~np.isnan(dense[user]))
        np.testing.assert_array_equal(items[user], top_n(scores[user], 5, seen))
        np.testing.assert_allclose(got[user], scores[user, items[user]], rtol=1e-5)
    monkeypatch.setattr(base, "_PRUNE_MIN_QUERIES", 10 ** 9)
    unpruned = model.recommend(np.arange(600), n=5)
    np.testing.assert_array_equal(unpruned[0], items)
    np.testing.assert_array_equal(unpruned[1], got)  # the same arithmetic either way


@pytest.mark.parametrize("biases", [False, True])
@pytest.mark.parametrize("call", [lambda m: m.recommend(0), lambda m: m.similar_items(0)],
                         ids=["recommend", "similar_items"])
def test_one_query_does_not_copy_the_item_factors(biases, call):
    """Gathering every item by index, widening the factors by the biases, or normalising
    them for cosines copied the whole item table on each call (1M items at K = 128:
    0.5-1 GB)."""
    import tracemalloc

    dense = np.random.default_rng(0).random((3, 50_000)).astype(np.float32)
    dense[dense < 0.5] = np.nan
    model = sa.ExplicitALS(factors=32, iterations=1, random_state=0, biases=biases).fit(dense)
    call(model)
    tracemalloc.start()
    call(model)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < model.item_factors_.nbytes / 4  # 6.4 MB of factors


def test_recommend_without_exclusions_allocates_nothing_per_fitted_user():
    """recommend(exclude_seen=False) built empty exclusion offsets for every fitted user on
    each call (4 bytes per user: 40 MB per one-user query at 10M users) to read the asked
    users' ones."""
    import tracemalloc

    n_users = 200_000
    X = sp.csr_matrix((np.ones(n_users), (np.arange(n_users), np.arange(n_users) % 4)),
                      shape=(n_users, 4))
    model = sa.ExplicitALS(factors=2, iterations=1, random_state=0).fit(X)

    def peak(exclude_seen):
        model.recommend(0, n=3, exclude_seen=exclude_seen)
        tracemalloc.start()
        model.recommend(0, n=3, exclude_seen=exclude_seen)
        size = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return size

    # the same call with exclusions reads only the asked user's offsets
    assert peak(False) < peak(True) + n_users
    items, _ = model.recommend([0, 1], n=4, exclude_seen=False)
    assert sorted(items[0]) == [0, 1, 2, 3] and sorted(items[1]) == [0, 1, 2, 3]


@pytest.mark.parametrize("model_class, params", [(sa.ExplicitALS, {}),
                                                  (sa.ExplicitALS, dict(biases=True)),
                                                  (sa.ImplicitALS, {})])
def test_queries_refuse_the_non_finite_rows_they_read(model_class, params):
    """Factors made NaN or infinite after the fit (fit, save and load refuse them) went
    through without a word: a NaN user got only padding (item -1, score -inf) from
    recommend, a NaN item likewise from similar_items, and fold_in returned NaN factors."""
    rng = np.random.default_rng(3)
    dense = observed_sample(rng, (20, 15), 0.5)
    model = model_class(factors=3, iterations=2, random_state=0, **params).fit(dense)
    clean_items, clean_scores = model.recommend([0, 2], n=5)
    model.user_factors_[1, 0] = np.nan
    message = r"user factors \(or biases\) at index 1 are NaN or infinite \(1 of the users"
    with pytest.raises(ValueError, match=message):
        model.recommend([0, 1], n=5)
    with pytest.raises(ValueError, match=message):
        model.similar_users(1)
    # the users the call does not read are served as before, and no user at all
    assert model.recommend([], n=5)[0].shape == model.similar_users([], n=5)[0].shape == (0, 5)
    items, scores = model.recommend([0, 2], n=5)
    np.testing.assert_array_equal(items, clean_items)
    np.testing.assert_array_equal(scores, clean_scores)
    model.user_factors_[1, 0] = 0.0
    if params.get("biases"):
        model.user_biases_[1] = np.inf
        with pytest.raises(ValueError, match=message):
            model.recommend(1)
        model.user_biases_[1] = 0.0
    model.item_factors_[4] = [np.inf, 0.0, 0.0]
    message = r"item factors \(or biases\) at index 4 are NaN or infinite"
    with pytest.raises(ValueError, match=message):
        model.similar_items([0, 4])
    with pytest.raises(ValueError, match=message):
        model.fold_in([4, 7], [1.0, 2.0])
    with pytest.raises(ValueError, match=message):
        model.partial_fit_users(20, np.where(np.arange(15) == 4, 1.0, np.nan)[None, :])
    assert len(model.user_factors_) == 20  # refused before anything changed
    if model_class is sa.ImplicitALS:  # every item enters a fold-in's system (its Gram)
        with pytest.raises(ValueError, match=message):
            model.fold_in([7], [2.0])
    else:
        factors = model.fold_in([7], [2.0])
        assert np.isfinite(factors[0] if params else factors).all()


def test_recommend_ties_are_broken_by_lower_index_and_candidates_can_be_restricted():
    model = sa.ExplicitALS(factors=1, iterations=1, random_state=0).fit(np.ones((3, 6)))
    model.item_factors_[:] = np.array([[1.0], [2.0], [2.0], [0.5], [2.0], [1.0]])
    model.user_factors_[:] = 1.0
    items, _ = model.recommend(0, n=4, exclude_seen=False)
    np.testing.assert_array_equal(items, [1, 2, 4, 0])
    items, _ = model.recommend([0, 1], n=10, exclude_seen=False, items=[5, 3, 0])
    np.testing.assert_array_equal(items, [[0, 5, 3], [0, 5, 3]])
    # scores that differ before the global mean is added and tie after it: the offset was
    # added after the selection, so two equal scores came out as items [1, 0]
    model.global_mean_ = 3.0
    model.item_factors_[:] = np.array([[0.0], [1e-7], [0.0], [0.0], [0.0], [0.0]])
    items, scores = model.recommend(0, n=2, exclude_seen=False, items=[0, 1])
    assert scores[0] == scores[1] == np.float32(3.0)
    np.testing.assert_array_equal(items, [0, 1])


def test_recommend_pads_when_exclusions_leave_too_few_candidates():
    dense = np.full((2, 4), np.nan)
    dense[0, :3] = 4.0
    dense[1, 3] = 2.0
    model = sa.ExplicitALS(factors=2, iterations=2, random_state=0).fit(dense)
    items, scores = model.recommend(0, n=3)
    assert items[0] == 3 and list(items[1:]) == [-1, -1] and np.isneginf(scores[1:]).all()


def test_similar_items_is_cosine_excluding_the_item_itself():
    rng = np.random.default_rng(7)
    model = sa.ExplicitALS(factors=4, iterations=3, random_state=0).fit(observed_sample(rng))
    factors = model.item_factors_.astype(np.float64)
    unit = factors / np.linalg.norm(factors, axis=1, keepdims=True)
    items, scores = model.similar_items([0, 5], n=4)
    for row, item in enumerate([0, 5]):
        cosine = unit @ unit[item]
        np.testing.assert_array_equal(items[row], top_n(cosine, 4, [item]))
        np.testing.assert_allclose(scores[row], cosine[items[row]], rtol=1e-5)
    users, _ = model.similar_users(2, n=3)
    assert users.shape == (3,) and 2 not in users


@pytest.mark.parametrize("side", ["items", "users"])
def test_similar_with_a_row_of_tiny_norm_treats_it_as_zero(side):
    """A float32 row of norm below ~3e-39 (a fit on ratings near 1e-38 made one) had an
    inverse norm of inf: its own scores were NaN (all results −1) and it scored NaN or
    +inf for the others (vanishing from their lists, or leading them)."""
    model = sa.ExplicitALS(factors=3, iterations=2, random_state=0).fit(
        observed_sample(np.random.default_rng(7)))
    factors = getattr(model, f"{side[:-1]}_factors_")
    factors[3] = [1e-40, -2e-40, 3e-41]
    assert factors.dtype == np.float32 and 0 < np.linalg.norm(factors[3].astype(float)) < 3e-39
    similar = getattr(model, f"similar_{side}")
    everyone = np.arange(len(factors))
    tiny = similar(everyone, n=len(factors) - 1)
    factors[3] = 0  # a row without ratings: cosine 0 with every other
    zero = similar(everyone, n=len(factors) - 1)
    np.testing.assert_array_equal(tiny[0], zero[0])
    np.testing.assert_array_equal(tiny[1], zero[1])
    assert (tiny[0] >= 0).all() and np.isfinite(tiny[1]).all()
    assert not tiny[1][3].any() and tiny[0][3].tolist() == [0, 1, 2] + list(everyone[4:])


def test_fold_in_equals_the_row_a_half_step_computes():
    rng = np.random.default_rng(8)
    dense = observed_sample(rng)
    for biases in (False, True):
        model = sa.ExplicitALS(factors=3, iterations=4, random_state=0, dtype="float64",
                               biases=biases).fit(dense)
        # after fit, the item step came last: recompute user 2 against the final items
        items = np.flatnonzero(~np.isnan(dense[2]))
        result = model.fold_in(items, dense[2, items])
        from sparseals.solvers import explicit_half_step
        expected, expected_bias, _ = explicit_half_step(
            sa.Ratings.from_dense(dense).csr, model.item_factors_,
            regularization=model._reg_users, other_biases=model.item_biases_,
            global_mean=model.global_mean_)
        if biases:
            np.testing.assert_allclose(result[0], expected[2], rtol=1e-10)
            assert result[1] == pytest.approx(expected_bias[2], rel=1e-10)
        else:
            np.testing.assert_allclose(result, expected[2], rtol=1e-10)


def test_callback_progress_and_params():
    seen = []
    model = sa.ExplicitALS(factors=2, iterations=3, show_progress=True,
                           callback=lambda it, loss: seen.append((it, loss)))
    model.fit(np.ones((4, 5)))
    assert [it for it, _ in seen] == [0, 1, 2]
    assert [loss for _, loss in seen] == model.loss_history_
    params = model.get_params()
    assert params["factors"] == 2 and set(params) >= {"regularization", "reg_exponent", "dtype"}
    clone = type(model)(**params)
    assert clone.get_params() == params
    assert model.set_params(factors=5, biases=True) is model and model.factors == 5
    assert repr(sa.ExplicitALS(factors=3)) == "ExplicitALS(factors=3)"
    assert repr(sa.ExplicitALS(factors=10, regularization=0.1)) == "ExplicitALS()"
    # equal to the defaults, not of their type, and refused by fit: were hidden
    assert repr(sa.ExplicitALS(factors=10.0, biases=0)) == "ExplicitALS(factors=10.0, biases=0)"
    with pytest.raises(ValueError, match=r"ExplicitALS has no parameter 'rank'"):
        model.set_params(rank=3)


@pytest.mark.parametrize("params, message", [
    (dict(factors=0), r"factors must be a positive integer; got 0"),
    (dict(factors=2.5), r"factors must be a positive integer; got 2.5"),
    (dict(regularization=-0.1), r"regularization must be a non-negative finite number"),
    (dict(regularization=np.nan), r"regularization must be a non-negative finite number"),
    (dict(regularization=1e39), r"regularization=1e\+39 is too large for float32 arithmetic"),
    (dict(reg_users=1e301, dtype="float64"), r"reg_users=1e\+301 is too large for float64"),
    (dict(reg_items="x"), r"reg_items must be a non-negative number; got 'x'"),
    (dict(reg_exponent=-1), r"reg_exponent must be a non-negative"),
    # fitted with loss nan: the longest row's weighted λ overflowed
    (dict(reg_exponent=1e300), r"regularization=0.1 weighted by reg_exponent=1e\+300 is too "
                               r"large for float32 arithmetic: the longest row's penalty "
                               r"regularization × 3\^1e\+300"),
    (dict(reg_users=0.0, reg_items=1.0, reg_exponent=80), r"reg_items=1 weighted by "
                                                           r"reg_exponent=80"),
    (dict(iterations=0), r"iterations must be a positive integer"),
    (dict(dtype="float16"), r"dtype must be 'float32' or 'float64'; got 'float16'"),
    # not a dtype: float_dtype returned None; the fit failed on 'got None' (Ratings.from_coo
    # went on in float64, and a model file holding it with float64 arrays loaded)
    (dict(dtype=["x"]), r"dtype must be 'float32' or 'float64'; got \['x'\]"),
    (dict(biases="yes"), r"biases must be True or False; got 'yes'"),
    (dict(num_threads=1.5), r"num_threads must be an integer or None"),
    (dict(callback=3), r"callback must be callable"),
    (dict(random_state="seed"), r"random_state must be None, a non-negative int"),
    (dict(random_state=-1), r"random_state must be None, a non-negative int, .* got -1"),
])
def test_bad_parameters_are_named_at_fit(params, message):
    model = sa.ExplicitALS(**params)  # the constructor only stores
    with pytest.raises(ValueError, match=message):
        model.fit(np.ones((3, 3)))


def test_bad_calls_on_a_model_are_named():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        sa.ExplicitALS().recommend(0)
    with pytest.raises(TypeError, match=r"X must be a Ratings, a scipy.sparse matrix or a dense"):
        sa.ExplicitALS().fit([[1, 2]])
    model = sa.ExplicitALS(factors=2, iterations=1).fit(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"users contains id 3 at position 0, out of range for 3 users"):
        model.recommend(3)
    with pytest.raises(ValueError, match=r"users contains negative ids"):
        model.predict([-1], [0])
    with pytest.raises(ValueError, match=r"users, items must have the same length"):
        model.predict([0, 1], [0])
    with pytest.raises(TypeError, match=r"items must hold integer indices"):
        model.predict([0], [0.5])
    # original ids were pointed to Ratings.from_dataframe, which had built the model's data
    with pytest.raises(TypeError, match=r"users must hold integer indices; got dtype <U3; the "
                                        r"model's user_ids_\[index\] is the original id"):
        model.recommend(["ann"])
    with pytest.raises(ValueError, match=r"\(valid ids are 0..3\); the model's item_ids_"):
        model.similar_items(10)
    with pytest.raises(ValueError, match=r"n must be a positive integer; got 0"):
        model.recommend(0, n=0)
    with pytest.raises(ValueError, match=r"items contains repeated item indices"):
        model.fold_in([1, 1], [3.0, 4.0])
    with pytest.raises(ValueError, match=r"values contains 1 NaN"):
        model.fold_in([1], [np.nan])
    assert isinstance(model.predict(0, 1), float)


@settings(max_examples=40, deadline=None)
@given(n_users=st.integers(1, 12), n_items=st.integers(1, 12), factors=st.integers(1, 6),
       regularization=st.sampled_from([0.0, 0.01, 1.0]), density=st.floats(0.05, 1.0),
       biases=st.booleans(), nonnegative=st.booleans(), seed=st.integers(0, 2**16))
def test_any_small_problem_fits_to_finite_factors_with_a_falling_loss(
        n_users, n_items, factors, regularization, density, biases, nonnegative, seed):
    rng = np.random.default_rng(seed)
    dense = rng.normal(3.0, 2.0, (n_users, n_items))
    dense[rng.random(dense.shape) >= density] = np.nan
    dense[0, 0] = 1.0  # at least one rating
    model = sa.ExplicitALS(factors=factors, regularization=regularization, iterations=4,
                           biases=biases, nonnegative=nonnegative, dtype="float64",
                           random_state=seed).fit(dense)
    assert np.isfinite(model.user_factors_).all() and np.isfinite(model.item_factors_).all()
    history = np.array(model.loss_history_)
    if regularization > 0:  # with λ = 0 singular rows get a ridge, so allow its rounding
        assert np.all(np.diff(history) <= 1e-8 * np.abs(history[:-1]) + 1e-10)


def test_huge_ratings_are_refused_with_the_fix_named():
    dense = np.array([[1e30, 2.0], [3.0, np.nan]])
    with pytest.raises(ValueError, match=r"ratings reach 1e\+30, too large for float32 .* "
                                         r"or use dtype='float64'"):
        sa.ExplicitALS(factors=1, iterations=1).fit(dense)
    model = sa.ExplicitALS(factors=1, iterations=3, dtype="float64").fit(dense)
    assert np.isfinite(model.user_factors_).all()


def test_divergence_is_caught_and_the_last_finite_factors_are_kept(monkeypatch):
    dense = observed_sample(np.random.default_rng(9))
    model = sa.ExplicitALS(factors=2, iterations=5, random_state=0)
    original = type(model)._iterate
    calls = []

    def iterate_then_blow_up(self, ratings):
        original(self, ratings)
        calls.append(self.user_factors_.copy())
        if len(calls) == 3:
            self.item_factors_[0, 0] = np.inf

    monkeypatch.setattr(type(model), "_iterate", iterate_then_blow_up)
    with pytest.raises(FloatingPointError, match=r"diverged at iteration 2: item_factors_ is "
                                                 r"no longer finite; the model keeps"):
        model.fit(dense)
    assert np.isfinite(model.item_factors_).all() and len(model.loss_history_) == 2
    np.testing.assert_array_equal(model.user_factors_, calls[1])


def test_interrupt_inside_an_iteration_keeps_the_last_completed_one(monkeypatch):
    dense = observed_sample(np.random.default_rng(10))
    model = sa.ExplicitALS(factors=2, iterations=5, random_state=0)
    original = type(model)._iterate
    snapshots = []

    def interrupted_midway(self, ratings):
        if len(snapshots) == 2:
            self.user_factors_[:] = 123.0  # half of an iteration done
            raise KeyboardInterrupt
        original(self, ratings)
        snapshots.append((self.user_factors_.copy(), self.item_factors_.copy()))

    monkeypatch.setattr(type(model), "_iterate", interrupted_midway)
    with pytest.raises(KeyboardInterrupt):
        model.fit(dense)
    np.testing.assert_array_equal(model.user_factors_, snapshots[1][0])
    np.testing.assert_array_equal(model.item_factors_, snapshots[1][1])
    assert len(model.loss_history_) == 2


@pytest.mark.parametrize("model_class", [sa.ExplicitALS, sa.ImplicitALS])
def test_a_callback_that_replaces_the_factors_is_named(model_class):
    """ImplicitALS failed in numba (TypingError) on float64 user factors beside float32
    item factors; ExplicitALS fitted on with mixed dtypes."""
    model = model_class(factors=2, iterations=3, random_state=0)

    def widen(iteration, loss):
        model.user_factors_ = model.user_factors_.astype(np.float64)

    model.callback = widen
    with pytest.raises(ValueError, match=r"item_factors_ has shape \(5, 2\) and dtype float32; "
                                         r"expected .* the dtype of user_factors_"):
        model.fit(np.where(np.eye(6, 5) + np.eye(6, 5, -1) > 0, 3.0, np.nan))


def test_interrupt_from_a_callback_keeps_the_completed_iteration():
    dense = observed_sample(np.random.default_rng(11))

    def stop_after_two(iteration, loss):
        if iteration == 1:
            raise KeyboardInterrupt

    model = sa.ExplicitALS(factors=2, iterations=6, random_state=0, callback=stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        model.fit(dense)
    full = sa.ExplicitALS(factors=2, iterations=2, random_state=0).fit(dense)
    np.testing.assert_array_equal(model.user_factors_, full.user_factors_)
    assert model.loss_history_ == full.loss_history_


def test_memory_guard_refuses_a_fit_that_cannot_fit(monkeypatch):
    from sparseals import _memory

    with pytest.raises(MemoryError, match=r"ExplicitALS.fit would need about .* GiB .* "
                                          r"100000000 factors.*fewer factors .*Dask backend"):
        sa.ExplicitALS(factors=100_000_000).fit(np.ones((1000, 1000)))
    monkeypatch.setattr(_memory, "available_bytes", lambda: 10_000)
    with pytest.raises(MemoryError, match=r"only 0.00 GiB is available; use dtype='float32'"):
        sa.ExplicitALS(factors=4, dtype="float64").fit(sa.Ratings.from_dense(np.ones((50, 50))))
    monkeypatch.setattr(_memory, "available_bytes", lambda: None)  # unknown: no guard
    sa.ExplicitALS(factors=2, iterations=1).fit(np.ones((5, 5)))


@pytest.mark.parametrize("model", [sa.ExplicitALS(factors=2000, iterations=1),
                                   sa.ImplicitALS(factors=2000, iterations=1, solver="cg")])
def test_memory_guard_counts_the_k_by_k_matrices(model, monkeypatch):
    """A 3 × 3 fit at K = 2000 was estimated at ~80 MB, leaving out the per-thread and
    shared K × K matrices (K = 100,000 then failed in a raw numpy allocation of 75 GiB)."""
    from sparseals import _memory

    monkeypatch.setattr(_memory, "available_bytes", lambda: 100 << 20)
    with pytest.raises(MemoryError, match=r"would need about 0.\d+ GiB .* 2000 factors"):
        model.fit(sa.Ratings.from_coo([0, 1, 2], [0, 1, 2], [1.0, 2.0, 3.0]))
    counted = []
    real_check = _memory.check_fit_memory
    monkeypatch.setattr(_memory, "check_fit_memory",
                        lambda *a, **kw: counted.append(kw["systems"]) or real_check(*a, **kw))
    monkeypatch.setattr(_memory, "available_bytes", lambda: None)
    ratings = sa.Ratings.from_dense(np.ones((5, 5)))
    for fitted in (sa.ExplicitALS(factors=2, iterations=1), sa.ImplicitALS(factors=2, iterations=1),
                   sa.ImplicitALS(factors=2, iterations=1, solver="cholesky")):
        fitted.fit(ratings)
    assert counted == [True, False, True]  # the CG forms no per-row K × K systems


def test_warm_start_keeps_to_the_fitted_users_and_items():
    """A warm start on other users of the same count resumed the old users' factors for
    them; one on a matrix replaced the model's ids by 0..n-1."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"u": ["ann", "bob", "cat", "ann"], "i": [1, 2, 3, 3],
                          "r": [4.0, 3.0, 5.0, 1.0]})
    first = sa.Ratings.from_dataframe(frame, user="u", item="i", rating="r")
    model = sa.ExplicitALS(factors=2, iterations=2, warm_start=True, random_state=0).fit(first)
    model.fit(first.csr)
    assert model.user_ids_.tolist() == ["ann", "bob", "cat"] and len(model.loss_history_) == 4
    others = sa.Ratings.from_dataframe(frame.assign(u=["dan", "eve", "fay", "dan"]), user="u",
                                       item="i", rating="r")
    factors = model.user_factors_.copy()
    with pytest.raises(ValueError, match=r"X's user ids differ from the model's user_ids_; "
                                         r"encode X like the first fit's ratings"):
        model.fit(others)
    np.testing.assert_array_equal(model.user_factors_, factors)
    assert model.user_ids_.tolist() == ["ann", "bob", "cat"]
    model.set_params(warm_start=False).fit(others)
    assert model.user_ids_.tolist() == ["dan", "eve", "fay"]


def test_warm_start_resumes_an_interrupted_fit_exactly():
    dense = observed_sample(np.random.default_rng(12))

    def stop_after_two(iteration, loss):
        if iteration == 1:
            raise KeyboardInterrupt

    model = sa.ExplicitALS(factors=3, iterations=5, random_state=0, callback=stop_after_two,
                           biases=True)
    with pytest.raises(KeyboardInterrupt):
        model.fit(dense)
    model.set_params(callback=None, warm_start=True, iterations=3).fit(dense)
    straight = sa.ExplicitALS(factors=3, iterations=5, random_state=0, biases=True).fit(dense)
    np.testing.assert_array_equal(model.user_factors_, straight.user_factors_)
    np.testing.assert_array_equal(model.item_biases_, straight.item_biases_)
    assert model.loss_history_ == straight.loss_history_
    with pytest.raises(ValueError, match=r"warm_start=True resumes a fit of 40 × 30 ratings "
                                         r"with 3 float32 factors, but this fit has 40 × 31"):
        model.fit(np.hstack([dense, np.ones((40, 1))]))
    with pytest.raises(ValueError, match=r"warm_start must be True or False; got 1"):
        sa.ExplicitALS(warm_start=1).fit(dense)


def test_initial_factors_drawn_in_chunks_equal_one_draw():
    from sparseals._base import _random_factors

    expected = np.random.default_rng(3).standard_normal((1000, 7)) / np.sqrt(7)
    for dtype in (np.float64, np.float32):
        actual = _random_factors(np.random.default_rng(3), 1000, 7, dtype, chunk_rows=300)
        assert actual.dtype == dtype
        np.testing.assert_array_equal(actual, expected.astype(dtype))


@pytest.mark.parametrize("model_class, biases", [(sa.ExplicitALS, False),
                                                 (sa.ExplicitALS, True), (sa.ImplicitALS, None)])
def test_predict_scores_many_pairs_in_bounded_memory(model_class, biases, monkeypatch):
    """predict works through the pairs in chunks: the same scores as the whole formula,
    at chunk boundaries too, without gathering every pair's factor rows at once."""
    import tracemalloc

    from sparseals import _base

    rng = np.random.default_rng(2)
    X = sp.random(50, 40, density=0.4, format="csr", random_state=1)
    extra = {} if biases is None else {"biases": biases}
    model = model_class(factors=32, iterations=2, random_state=0, **extra).fit(X)
    users, items = rng.integers(0, 50, 400_000), rng.integers(0, 40, 400_000)
    full = np.einsum("ij,ij->i", model.user_factors_[users].astype(np.float64),
                     model.item_factors_[items])
    if biases:
        full += model.user_biases_[users] + model.item_biases_[items] + model.global_mean_
    tracemalloc.start()
    scores = model.predict(users, items)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_allclose(scores, full, rtol=1e-5, atol=1e-5)
    assert scores.dtype == np.float32
    assert peak < len(users) * 32 * 8 / 2  # one gather of both sides' rows needs all of it
    monkeypatch.setattr(_base, "_PREDICT_CHUNK", 7)
    np.testing.assert_allclose(model.predict(users[:50], items[:50]), full[:50],
                               rtol=1e-5, atol=1e-5)
    assert model.predict(users[3], items[3]) == pytest.approx(full[3], rel=1e-5)


def test_seen_items_set_on_a_model_are_checked_once():
    """The seen structure is checked when set (its extent kept for the O(1) query check)."""
    model = sa.ExplicitALS(factors=2, iterations=2, random_state=0).fit(np.eye(4) + 1)
    seen = model._seen
    with pytest.raises(ValueError, match="seen items are not a valid structure"):
        model._seen = seen._replace(indices=seen.indices - 1)
    model._seen = seen._replace(indices=seen.indices + 1)  # item 4 of 4
    with pytest.raises(ValueError, match="seen items reach item index 4 but it has 4 item ids"):
        model.recommend(0)


@pytest.mark.parametrize("options", [dict(), dict(nonnegative=True), dict(reg_exponent=1.0)])
@pytest.mark.parametrize("scale", [4.0 ** -8, 4.0 ** 6])
def test_a_fit_does_not_depend_on_the_ratings_unit(options, scale):
    """Bug: the random start had unit-norm rows whatever the ratings' size, so a fit of
    ratings of 1.5e-5 (or 4e3), λ scaled alike (the same problem in another unit), ended
    far from the unit fit: float32 loss 2208 instead of 1368 at 4⁻⁵ here. The start now
    scales with the ratings' RMS; for a power of 4 the fit is the unit fit scaled, exactly."""
    ratings = synthetic(300, 200, 6000, seed=0).csr.astype(np.float64)
    make = dict(factors=8, regularization=0.1, iterations=10, random_state=0, **options)
    unit = sa.ExplicitALS(dtype="float64", **make).fit(ratings)
    make["regularization"] *= scale
    scaled = sa.ExplicitALS(dtype="float32", **make).fit((ratings * scale).astype(np.float32))
    assert scaled.loss_history_[-1] / scale ** 2 == pytest.approx(unit.loss_history_[-1],
                                                                  rel=1e-4)
    np.testing.assert_allclose(scaled.item_factors_ / np.sqrt(scale), unit.item_factors_,
                               rtol=1e-3, atol=1e-3)
    unit32 = sa.ExplicitALS(dtype="float32", **dict(make, regularization=0.1)).fit(
        ratings.astype(np.float32))
    np.testing.assert_array_equal(scaled.user_factors_, unit32.user_factors_ * np.sqrt(scale))


def test_ratings_too_small_for_the_dtype_are_refused():
    """Bug: float32 ratings of 1e-30 (λ scaled alike) fitted every factor to 0 without a
    word (loss 12-25× the float64 fit's): the products of ratings and factors underflowed.
    Such ratings are refused; ratings of 1e-26 still fit as the float64 reference does."""
    ratings = synthetic(100, 80, 1500, seed=0).csr.astype(np.float64)
    make = dict(factors=4, regularization=0.1, iterations=5, random_state=0)
    with pytest.raises(ValueError, match=r"^ratings reach only 5e-30, too small for float32 "
                                         r"arithmetic .* multiply them by a constant or use "
                                         r"dtype='float64'"):
        sa.ExplicitALS(**dict(make, regularization=1e-31)).fit((ratings * 1e-30).astype(np.float32))
    reference = sa.ExplicitALS(dtype="float64", **make).fit(ratings)
    small = sa.ExplicitALS(**dict(make, regularization=0.1 * 1e-26)).fit(
        (ratings * 1e-26).astype(np.float32))
    assert small.loss_history_[-1] / 1e-52 == pytest.approx(reference.loss_history_[-1], rel=1e-4)
    tiny64 = sa.ExplicitALS(dtype="float64", **dict(make, regularization=1e-31)).fit(ratings * 1e-30)
    assert tiny64.loss_history_[-1] / 1e-60 == pytest.approx(reference.loss_history_[-1], rel=1e-9)
    zeros = sp.csr_matrix((np.zeros(3), ([0, 1, 2], [0, 1, 2])), shape=(3, 3))
    assert sa.ExplicitALS(**make).fit(zeros).loss_history_[-1] == 0.0  # nothing to underflow


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("biases", [False, True])
def test_a_ratings_without_entries_fits_to_zero(biases):
    """Bug: a Ratings without entries (built from its arrays) fitted with biases got the
    mean of no ratings, NaN, as global_mean_ (and a RuntimeWarning), so every prediction
    was NaN; μ is now 0, as the zero factors and biases are."""
    from sparseals.ratings import Compressed

    def empty(n_rows):
        return Compressed(np.zeros(n_rows + 1, np.int32), np.zeros(0, np.int32),
                          np.zeros(0, np.float32))

    model = sa.ExplicitALS(factors=2, biases=biases, iterations=2, random_state=0)
    model.fit(sa.Ratings(empty(3), empty(2), (3, 2)))
    assert model.global_mean_ == 0.0 and model.loss_history_ == [0.0, 0.0]
    np.testing.assert_array_equal(model.predict([0, 2], [1, 0]), [0.0, 0.0])
