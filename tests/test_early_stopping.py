"""Early stopping: fit(X, validation=..., metric=..., patience=...) on both models."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import sparseals as sa
from sparseals.datasets import synthetic
from sparseals.metrics import ndcg_at_k, rmse
from sparseals.model_selection import train_test_split


@pytest.fixture(scope="module")
def noise_split():
    """Uniform random ratings: no structure, so a low-penalty fit overfits after 2–3 sweeps."""
    rng = np.random.default_rng(0)
    n_users, n_items, nnz = 200, 150, 6000
    cells = rng.choice(n_users * n_items, nnz, replace=False)
    ratings = sa.Ratings.from_coo(cells // n_items, cells % n_items,
                                  rng.integers(1, 6, nnz).astype(float), shape=(n_users, n_items))
    return train_test_split(ratings, test_size=0.2, random_state=0)


def overfitting_model(**params):
    return sa.ExplicitALS(**{**dict(factors=5, regularization=0.05, iterations=25,
                                    random_state=0), **params})


def test_stops_early_when_validation_rmse_rises_and_restores_best(noise_split):
    train, held = noise_split
    calls = []
    model = overfitting_model(callback=lambda i, loss: calls.append(i))
    model.fit(train, validation=held, patience=3)
    history = model.validation_history_
    assert model.validation_metric_ == "rmse"
    assert len(history) < model.iterations  # stopped early
    best = model.best_iteration_
    assert history[best] == min(history)
    assert len(history) == best + 3 + 1  # exactly `patience` iterations without improvement
    assert len(history) == len(calls)
    # the factors kept are the best iteration's, not the last one's, and the loss history
    # ends there (a warm-started fit continued from them after a higher last loss)
    assert rmse(model, held) == pytest.approx(history[best], rel=1e-6)
    assert rmse(model, held) < history[-1]
    assert len(model.loss_history_) == best + 1
    model.set_params(warm_start=True, iterations=2, callback=None).fit(train)
    assert np.all(np.diff(model.loss_history_) <= 1e-6 * model.loss_history_[0])


def test_a_bad_early_stopping_option_leaves_a_fitted_model_as_it_was(noise_split):
    """The fit drew fresh factors before checking validation / metric / patience."""
    train, held = noise_split
    model = overfitting_model(iterations=3).fit(train, validation=held)
    before = (model.user_factors_.copy(), list(model.loss_history_),
              list(model.validation_history_))
    for options in (dict(patience=2), dict(validation=held, patience=0),
                    dict(validation=held, metric="nDCG"), dict(validation=held.csr[:3])):
        with pytest.raises(ValueError):
            model.fit(train, **options)
        np.testing.assert_array_equal(model.user_factors_, before[0])
        assert model.loss_history_ == before[1] and model.validation_history_ == before[2]


def test_refused_training_data_leaves_a_validated_fit_as_it_was():
    """ImplicitALS checked its values after early stopping had dropped the last fit's
    validation_history_, validation_metric_ and best_iteration_."""
    counts = sa.Ratings.from_dense(np.where(np.eye(30, 20) + np.eye(30, 20, -3) > 0, 2.0, np.nan))
    model = sa.ImplicitALS(factors=2, iterations=2, random_state=0).fit(counts,
                                                                        validation=counts)
    kept = {name: getattr(model, name) for name in ("validation_history_",
                                                    "validation_metric_", "best_iteration_")}
    factors = model.user_factors_.copy()
    with pytest.raises(ValueError, match="X holds negative values"):
        model.fit(-counts.to_dense(fill=np.nan))
    assert {name: getattr(model, name) for name in kept} == kept
    np.testing.assert_array_equal(model.user_factors_, factors)


def test_biases_are_restored_with_the_factors(noise_split):
    train, held = noise_split
    model = overfitting_model(biases=True).fit(train, validation=held, patience=2)
    assert len(model.validation_history_) < model.iterations
    assert rmse(model, held) == pytest.approx(min(model.validation_history_), rel=1e-6)


def test_a_longer_patience_runs_longer_and_keeps_the_same_best(noise_split):
    train, held = noise_split
    short = overfitting_model().fit(train, validation=held, patience=1)
    long = overfitting_model().fit(train, validation=held, patience=5)
    assert len(short.validation_history_) < len(long.validation_history_)
    assert short.best_iteration_ == long.best_iteration_
    np.testing.assert_array_equal(short.user_factors_, long.user_factors_)


def test_never_improving_is_bounded_by_iterations():
    train, held = train_test_split(synthetic(300, 200, 6000, seed=0), random_state=0)
    model = sa.ExplicitALS(factors=4, iterations=4, random_state=0)
    model.fit(train, validation=held, patience=10)
    assert len(model.validation_history_) == 4


def test_implicit_model_defaults_to_ndcg_and_keeps_the_best():
    train, held = train_test_split(synthetic(300, 200, 8000, seed=1, implicit=True),
                                   random_state=1)
    model = sa.ImplicitALS(factors=8, iterations=12, random_state=0)
    model.fit(train, validation=held, patience=2)
    assert model.validation_metric_ == "ndcg"
    history = model.validation_history_
    assert history[model.best_iteration_] == max(history)
    assert ndcg_at_k(model, held) == pytest.approx(max(history), rel=1e-6)


def test_other_metrics_and_validation_as_a_matrix(noise_split):
    train, held = noise_split
    model = overfitting_model().fit(train, validation=held.csr, metric="mae", patience=2)
    assert model.validation_metric_ == "mae"
    by_ratings = overfitting_model().fit(train, validation=held, metric="mae", patience=2)
    assert model.validation_history_ == pytest.approx(by_ratings.validation_history_)
    ranked = overfitting_model(iterations=3).fit(train, validation=held, metric="hit_rate")
    assert ranked.validation_history_[ranked.best_iteration_] == max(ranked.validation_history_)


def test_matrix_validation_works_with_original_ids():
    frame = pd.DataFrame({"u": ["a", "a", "b", "b", "c", "c", "c"],
                          "i": [10, 20, 10, 30, 20, 30, 40],
                          "r": [5.0, 3.0, 4.0, 2.0, 1.0, 4.0, 3.0]})
    train = sa.Ratings.from_dataframe(frame, user="u", item="i", rating="r")
    held = np.full(train.shape, np.nan)
    held[0, 2] = 4.0
    model = sa.ExplicitALS(factors=2, iterations=3, random_state=0)
    model.fit(train, validation=held)
    assert len(model.validation_history_) >= 1


def test_a_fit_without_validation_drops_the_old_history(noise_split):
    train, held = noise_split
    model = overfitting_model().fit(train, validation=held)
    model.fit(train)
    assert not hasattr(model, "validation_history_")
    assert not hasattr(model, "best_iteration_")
    assert len(model.loss_history_) == model.iterations


def test_history_survives_save_and_load(noise_split, tmp_path):
    train, held = noise_split
    model = overfitting_model().fit(train, validation=held, patience=2)
    model.save(tmp_path / "m.npz")
    loaded = sa.load(tmp_path / "m.npz")
    assert loaded.validation_history_ == pytest.approx(model.validation_history_)
    assert loaded.best_iteration_ == model.best_iteration_
    assert loaded.validation_metric_ == "rmse"


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(validation="held.csv"), TypeError, r"validation must be held-out ratings .* got str"),
    (dict(metric="rmse"), ValueError, r"metric='rmse' applies to early stopping only; pass "
                                      r"validation="),
    (dict(patience=2), ValueError, r"patience=2 applies to early stopping only"),
])
def test_option_errors(noise_split, kwargs, error, match):
    train, _ = noise_split
    with pytest.raises(error, match=match):
        overfitting_model().fit(train, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(metric="accuracy"), r"metric must be one of \['rmse', .*\]; got 'accuracy'"),
    (dict(patience=0), r"patience must be a positive integer .*; got 0"),
    (dict(patience=1.5), r"patience must be a positive integer .*; got 1.5"),
    (dict(patience=True), r"patience must be a positive integer .*; got True"),
])
def test_metric_and_patience_errors(noise_split, kwargs, match):
    train, held = noise_split
    with pytest.raises(ValueError, match=match):
        overfitting_model().fit(train, validation=held, **kwargs)


def test_validation_of_another_shape_or_other_ids_is_refused(noise_split):
    train, held = noise_split
    wrong = sa.Ratings.from_coo([0, 1], [0, 1], [3.0, 4.0], shape=(5, 5))
    with pytest.raises(ValueError, match=r"validation has shape \(5, 5\) but X has shape "
                                         r"\(200, 150\); held-out ratings must share"):
        overfitting_model().fit(train, validation=wrong)
    relabelled = sa.Ratings(held.by_user, held.by_item, held.shape,
                            held.user_ids + 1000, held.item_ids)
    with pytest.raises(ValueError, match="validation's user ids differ from X's"):
        overfitting_model().fit(train, validation=relabelled)


@pytest.mark.parametrize("validation, error, match", [
    (sp.csr_matrix((200, 150)), ValueError, r"has no stored entries"),
    (np.full((200, 150), np.nan), ValueError, r"no observed cells \(all NaN\)"),
    (sp.csr_matrix(([np.nan], ([0], [0])), shape=(200, 150)), ValueError, r"1 NaN or infinite"),
    (sp.coo_matrix(([1.0, 2.0], ([0, 0], [3, 3])), shape=(200, 150)), ValueError,
     r"duplicated \(user, item\) pair.*\(0, 3\)"),
    (np.full((200, 150), "4"), TypeError, r"must hold real numbers; got dtype <U1"),
    (sp.bsr_matrix((200, 150)), TypeError, r"cannot tell a BSR matrix's ratings"),
])
def test_errors_about_the_validation_data_name_it(noise_split, validation, error, match):
    """Bug: an empty (or NaN, duplicated, non-numeric) validation= raised the converters'
    own message ('the sparse rating matrix (200, 150) has no stored entries'), which does
    not say that the held-out ratings, not X, were wrong; a BSR matrix or an array of text
    got 'validation must be held-out ratings … got ndarray', which hid the real fault."""
    train, _ = noise_split
    with pytest.raises(error, match=r"^validation \(the held-out ratings\): .*" + match):
        overfitting_model().fit(train, validation=validation)
