"""Property-based fuzzing of the public entry points: a correct result or a clear error.

Every example ends either in a valid result or in a ValueError/TypeError whose message
names the problem; never a crash, a hang, or non-finite factors.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import sparseals as sa

FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ID_DTYPES = st.sampled_from(["<i4", ">i4", "<i8", ">i8", "<u2", "u1", "<u8", "<f8", "?", "<c16",
                             "O"])
VALUE_DTYPES = st.sampled_from(["<f4", ">f4", "<f8", ">f8", "<i4", "u1", "?", "<c8", "O"])
SPECIAL = st.sampled_from([np.nan, np.inf, -np.inf, 1e30, -1e30, 1e300, 0.0, -0.0, 5.0])


@st.composite
def coo_inputs(draw):
    n = draw(st.integers(0, 30))
    lengths = [n, n, n]
    if draw(st.integers(0, 9)) == 0:  # sometimes mismatched lengths
        lengths[draw(st.integers(0, 2))] = draw(st.integers(0, 30))
    users = draw(hnp.arrays(np.int64, lengths[0], elements=st.integers(-3, 12)))
    items = draw(hnp.arrays(np.int64, lengths[1], elements=st.integers(-3, 12)))
    if draw(st.integers(0, 19)) == 0 and len(users):
        users[0] = 2**40  # past int32
    values = draw(hnp.arrays(np.float64, lengths[2],
                             elements=st.floats(-10, 10) | SPECIAL))
    users = _cast(users, draw(ID_DTYPES))
    items = _cast(items, draw(ID_DTYPES))
    values = _cast(values, draw(VALUE_DTYPES))
    if draw(st.booleans()):  # non-contiguous views
        users, items, values = (np.repeat(a, 2)[::2] for a in (users, items, values))
    shape = draw(st.none() | st.tuples(st.integers(-1, 14), st.integers(-1, 14)))
    duplicates = draw(st.sampled_from(["error", "sum", "last", "mean", "bogus"]))
    return users, items, values, shape, duplicates


def _cast(array, dtype):
    with np.errstate(all="ignore"):
        if dtype == "O":
            return array.astype(object)
        return array.astype(dtype)


def _reference(users, items, values, shape, duplicates):
    """What from_coo must build, or None when the input is invalid."""
    try:
        users = np.asarray(users, dtype=np.float64)
        items = np.asarray(items, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return users, items, values


@FUZZ
@given(coo_inputs())
def test_from_coo_builds_the_right_matrix_or_names_the_problem(case):
    users, items, values, shape, duplicates = case
    try:
        ratings = sa.Ratings.from_coo(users, items, values, shape=shape, duplicates=duplicates)
    except (ValueError, TypeError) as error:
        assert str(error)  # a message that says something
        return
    # accepted: integer ids in range, finite real values, a valid duplicates policy
    assert users.dtype.kind in "iu" and items.dtype.kind in "iu"
    assert values.dtype.kind in "iuf"
    dense = ratings.to_dense()
    assert np.isfinite(ratings.by_user.data).all() and np.isfinite(ratings.by_item.data).all()
    assert (ratings.by_user.indices < ratings.shape[1]).all()
    assert (ratings.by_item.indices < ratings.shape[0]).all()
    pairs = {}
    for position, (u, i, x) in enumerate(zip(users.tolist(), items.tolist(), values.tolist())):
        pairs.setdefault((u, i), []).append(np.float32(x))
    assert len(pairs) == ratings.nnz
    combine = {"error": lambda xs: xs[0], "sum": sum, "last": lambda xs: xs[-1],
               "mean": lambda xs: sum(xs) / len(xs)}[duplicates]
    for (u, i), xs in pairs.items():
        assert dense[u, i] == pytest.approx(float(combine(xs)), rel=1e-5, abs=1e-5)


@st.composite
def dense_inputs(draw):
    shape = draw(st.tuples(st.integers(0, 8), st.integers(0, 8)))
    array = draw(hnp.arrays(np.float64, shape, elements=st.floats(-5, 5) | SPECIAL))
    return _cast(array, draw(VALUE_DTYPES))


@FUZZ
@given(dense_inputs(), st.integers(1, 10), st.sampled_from([0.0, 1e-3, 1.0]),
       st.booleans(), st.booleans(), st.sampled_from(["float32", "float64"]))
def test_fit_on_any_dense_input_gives_finite_factors_or_a_clear_error(
        array, factors, regularization, biases, nonnegative, dtype):
    model = sa.ExplicitALS(factors=factors, regularization=regularization, biases=biases,
                           nonnegative=nonnegative, iterations=2, dtype=dtype, random_state=0)
    try:
        model.fit(array)
    except (ValueError, TypeError) as error:
        assert str(error)
        return
    assert np.isfinite(model.user_factors_).all() and np.isfinite(model.item_factors_).all()
    assert np.isfinite(model.loss_history_).all()
    n_users, n_items = array.shape
    items, scores = model.recommend(np.arange(n_users), n=3, exclude_seen=False)
    assert items.shape == (n_users, min(3, n_items)) and (items >= 0).all()


@FUZZ
@given(st.lists(st.integers(-3, 8), max_size=6), st.lists(st.floats(allow_nan=True), max_size=6),
       st.lists(st.integers(-3, 8), max_size=6), st.integers(-2, 12))
def test_scoring_entry_points_never_crash(items, values, users, n):
    rng = np.random.default_rng(0)
    dense = np.where(rng.random((6, 7)) < 0.5, rng.integers(1, 6, (6, 7)), np.nan)
    dense[0, 0] = 3.0
    model = sa.ExplicitALS(factors=3, iterations=2, random_state=0).fit(dense)
    calls = [lambda: model.fold_in(items, values), lambda: model.predict(users, items),
             lambda: model.recommend(users, n=n), lambda: model.similar_items(items, n=n),
             lambda: model.similar_users(users, n=n)]
    for call in calls:
        try:
            result = call()
        except (ValueError, TypeError) as error:
            assert str(error)
            continue
        for part in (result if isinstance(result, tuple) else (result,)):
            part = np.asarray(part, dtype=np.float64)
            assert not np.isnan(part).any()
