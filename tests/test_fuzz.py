"""Property-based fuzzing of the public entry points: a correct result or a clear error.

Every example ends either in a valid result or in a ValueError/TypeError whose message
names the problem; never a crash, a hang, or non-finite factors.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
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
@example(case=(  # found by the fuzzer: 1e30 and -1e30 summed around fourteen 1s
    np.zeros(17, dtype=np.int32), np.array([1, 0] + [1] * 15, dtype=np.int32),
    np.array([1e30, 1.0, -1e30] + [1.0] * 14, dtype=np.float32), None, "sum"))
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
    combine = {"error": lambda xs: xs[0], "sum": math.fsum, "last": lambda xs: xs[-1],
               "mean": lambda xs: math.fsum(xs) / len(xs)}[duplicates]
    for (u, i), xs in pairs.items():
        # a float32 sum, in whatever order, is exact to n·eps·Σ|x| (the order is not part of
        # the contract: 1e30, 1, −1e30 may give 0 or 1); 'mean' divides that by n
        terms = {"sum": len(xs), "mean": 1}.get(duplicates, 0)
        rounding = terms * np.finfo(np.float32).eps * math.fsum(abs(float(x)) for x in xs)
        expected = float(combine([float(x) for x in xs]))
        assert abs(float(dense[u, i]) - expected) <= 1e-5 * abs(expected) + 1e-5 + rounding


@st.composite
def dense_inputs(draw):
    shape = draw(st.tuples(st.integers(0, 8), st.integers(0, 8)))
    array = draw(hnp.arrays(np.float64, shape, elements=st.floats(-5, 5) | SPECIAL))
    return _cast(array, draw(VALUE_DTYPES))


@FUZZ
@given(dense_inputs(), st.integers(1, 10), st.sampled_from([0.0, 1e-3, 1.0]),
       st.booleans(), st.booleans(), st.sampled_from(["float32", "float64"]),
       st.sampled_from([2, 40]))
# found by this test: the NNLS solver took a pivot of rounding into its factor (λ = 0,
# 5 ratings and 6 unknowns a row) and the float32 loss rose from 0.98 to 925,056
@example(np.array([[255, 255, 255, 0, 0], [255] * 5, [255, 255, 254, 255, 255]]
                  + [[255] * 5] * 4, dtype=np.uint8), 5, 0.0, True, True, "float32", 2)
def test_fit_on_any_dense_input_gives_finite_factors_or_a_clear_error(
        array, factors, regularization, biases, nonnegative, dtype, iterations):
    model = sa.ExplicitALS(factors=factors, regularization=regularization, biases=biases,
                           nonnegative=nonnegative, iterations=iterations, dtype=dtype,
                           random_state=0)
    try:
        model.fit(array)
    except (ValueError, TypeError) as error:
        assert str(error)
        return
    assert np.isfinite(model.user_factors_).all() and np.isfinite(model.item_factors_).all()
    loss = np.array(model.loss_history_)
    assert np.isfinite(loss).all()
    values = np.asarray(array, dtype=np.float64)
    if np.nanmax(np.abs(values), initial=0.0) <= 1e6:
        # exact alternating solves never raise the loss (beyond the rounding of its sum).
        # Not past 1e6: with ratings of 1e30 and λ = 1 a bias sits beside factors of 1e29,
        # and the ridge of a singular system, sized for the largest diagonal entry,
        # pins the bias (a known limit of judging singularity on one scale per system)
        scale = np.nansum(np.square(values))
        slack = (1e-3 if dtype == "float32" else 1e-9) * (loss[0] + scale) + 1e-6
        assert np.all(np.diff(loss) <= slack)
    n_users, n_items = array.shape
    items, scores = model.recommend(np.arange(n_users), n=3, exclude_seen=False)
    assert items.shape == (n_users, min(3, n_items)) and (items >= 0).all()


@FUZZ
@given(dense_inputs(), st.integers(1, 10), st.sampled_from([0.0, 1e-3, 1.0]),
       st.sampled_from(["cg", "cholesky"]), st.sampled_from(["linear", "raw"]),
       st.sampled_from([0.0, 1.0, 50.0]), st.sampled_from(["float32", "float64"]),
       st.sampled_from([2, 20]))
# found by this test: with λ = 0 and a rank-one G, a CG step divided by the rounding left
# along G's null space (factors of 1e20, then a NaN loss)
@example(np.ones((4, 1), dtype=np.float32), 2, 0.0, "cg", "linear", 0.0, "float32", 2)
@example(np.ones((1, 4), dtype=np.float32), 2, 0.0, "cg", "linear", 0.0, "float32", 2)
# a constant matrix, λ = 0: rank-one systems whose Cholesky took rounding for pivots
@example(np.full((6, 5), 252, dtype=np.uint8), 5, 0.0, "cholesky", "linear", 50.0, "float32",
         2)
def test_implicit_fit_on_any_dense_input_gives_finite_factors_or_a_clear_error(
        array, factors, regularization, solver, confidence, alpha, dtype, iterations):
    model = sa.ImplicitALS(factors=factors, regularization=regularization, solver=solver,
                           confidence=confidence, alpha=alpha, iterations=iterations,
                           dtype=dtype, random_state=0)
    try:
        model.fit(array)
    except (ValueError, TypeError) as error:
        assert str(error)
        return
    assert np.isfinite(model.user_factors_).all() and np.isfinite(model.item_factors_).all()
    loss = np.array(model.loss_history_)
    assert np.isfinite(loss).all()
    values = np.abs(np.asarray(array, dtype=np.float64))
    if np.nanmax(values, initial=0.0) * max(alpha, 1.0) <= 1e6:
        # exact solves, and CG steps from the current factors, never raise the loss. Not
        # for confidences past 1e6: 1e30 against λ = 1e-3 is a system whose condition
        # number float64 cannot hold (as for the explicit fit above)
        scale = np.nansum(values) * max(alpha, 1.0) + values.size + loss[0]
        slack = (1e-3 if dtype == "float32" else 1e-9) * scale + 1e-6
        assert np.all(np.diff(loss) <= slack)
    items, _ = model.recommend(np.arange(array.shape[0]), n=2, exclude_seen=False)
    assert (items >= 0).all()


@FUZZ
@given(st.lists(st.integers(-3, 8), max_size=6), st.lists(st.floats(allow_nan=True), max_size=6),
       st.lists(st.integers(-3, 8), max_size=6), st.integers(-2, 12),
       st.sampled_from(["explicit", "implicit"]))
def test_scoring_entry_points_never_crash(items, values, users, n, kind):
    rng = np.random.default_rng(0)
    dense = np.where(rng.random((6, 7)) < 0.5, rng.integers(1, 6, (6, 7)), np.nan)
    dense[0, 0] = 3.0
    model_class = sa.ExplicitALS if kind == "explicit" else sa.ImplicitALS
    model = model_class(factors=3, iterations=2, random_state=0).fit(dense)
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


@FUZZ
@given(dense_inputs(), st.sampled_from(["csr", "csc", "coo", "lil"]))
def test_from_sparse_and_from_dense_agree_or_name_the_problem(array, fmt):
    import scipy.sparse as sp

    try:
        matrix = sp.random(*array.shape, density=0.5, random_state=0, format=fmt) \
            if array.dtype.kind not in "fiu" or array.ndim != 2 else None
    except ValueError:
        matrix = None
    if matrix is None:
        try:
            with np.errstate(all="ignore"):
                matrix = sp.csr_matrix(np.where(np.isnan(array.astype(float)), 0.0, array)).asformat(fmt)
        except (TypeError, ValueError):
            return  # scipy itself refuses the input: nothing of ours to test
    try:
        ratings = sa.Ratings.from_sparse(matrix)
    except (ValueError, TypeError) as error:
        assert str(error)
        return
    np.testing.assert_array_equal(ratings.csr.toarray(), matrix.toarray().astype(np.float32))


@FUZZ
@given(st.lists(st.one_of(st.integers(-5, 5), st.text(max_size=3), st.none(),
                          st.floats(allow_nan=True)), min_size=0, max_size=12),
       st.lists(st.one_of(st.integers(0, 5), st.text(max_size=2)), min_size=0, max_size=12),
       st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=12))
def test_from_dataframe_accepts_any_hashable_ids_or_names_the_problem(users, items, values):
    import pandas as pd

    n = min(len(users), len(items), len(values))
    df = pd.DataFrame({"u": pd.Series(users[:n], dtype=object),
                       "i": pd.Series(items[:n], dtype=object), "r": values[:n]})
    try:
        ratings = sa.Ratings.from_dataframe(df, user="u", item="i", rating="r", duplicates="last")
    except (ValueError, TypeError) as error:
        assert str(error)
        return
    assert ratings.nnz == len(set(zip(df["u"], df["i"])))
    assert len(ratings.user_ids) == ratings.shape[0] and len(ratings.item_ids) == ratings.shape[1]


@FUZZ
@given(st.lists(st.integers(-2, 40), min_size=0, max_size=4), st.integers(0, 3),
       st.sampled_from([1.0, np.nan, np.inf, -3.0, 1e30]), st.booleans())
def test_partial_fit_never_crashes_or_leaves_non_finite_factors(ids, n_values, value, users_side):
    rng = np.random.default_rng(1)
    dense = np.where(rng.random((8, 6)) < 0.5, rng.integers(1, 6, (8, 6)), np.nan)
    dense[0, 0] = 2.0
    model = sa.ExplicitALS(factors=2, iterations=2, random_state=0).fit(dense)
    n_other = 6 if users_side else 8
    matrix = np.full((len(ids), n_other) if users_side else (n_other, len(ids)), np.nan)
    flat = matrix.reshape(-1)
    flat[:n_values] = value
    try:
        if users_side:
            model.partial_fit_users(ids, matrix)
        else:
            model.partial_fit_items(ids, matrix)
    except (ValueError, TypeError) as error:
        assert str(error)
    assert np.isfinite(model.user_factors_).all() and np.isfinite(model.item_factors_).all()
    assert len(model.user_factors_) <= 8 + 4 and len(model.item_factors_) <= 6 + 4


@pytest.fixture(scope="module")
def saved_model_bytes(tmp_path_factory):
    rng = np.random.default_rng(2)
    dense = np.where(rng.random((10, 8)) < 0.5, rng.integers(1, 6, (10, 8)), np.nan)
    dense[0, 0] = 1.0
    path = tmp_path_factory.mktemp("model") / "model.npz"
    sa.ExplicitALS(factors=2, iterations=2, random_state=0, biases=True).fit(dense).save(path)
    return path.read_bytes()


@FUZZ
@given(st.data())
def test_load_of_a_damaged_file_raises_one_clear_error(saved_model_bytes, tmp_path_factory, data):
    from sparseals.persistence import ModelFileError

    blob = bytearray(saved_model_bytes)
    how = data.draw(st.sampled_from(["flip", "truncate", "garbage"]))
    if how == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            position = data.draw(st.integers(0, len(blob) - 1))
            blob[position] ^= 1 << data.draw(st.integers(0, 7))
    elif how == "truncate":
        blob = blob[:data.draw(st.integers(0, len(blob) - 1))]
    else:
        blob = bytearray(data.draw(st.binary(max_size=200)))
    path = tmp_path_factory.mktemp("damaged") / "model.npz"
    path.write_bytes(bytes(blob))
    try:
        model = sa.load(path)
    except ModelFileError as error:
        assert str(error)
        return
    # a flip that zip's checksums cannot see (e.g. in a file name or padding) may still load
    assert np.isfinite(model.user_factors_).all() and np.isfinite(model.item_factors_).all()
    model.recommend(0, n=3)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=st.lists(st.sampled_from(["fit", "evaluate", "recommend", "similar", "info", "demo",
                                 "--factors", "0", "-3", "abc", "--user", "--item", "-n",
                                 "1e9", "--json", "/nonexistent", "-o", "--model", "implicit",
                                 "--ratings", "--bogus"]), max_size=6))
def test_the_command_line_never_shows_a_traceback(argv, capsys):
    from sparseals.cli import main

    if argv[:1] == ["demo"] and not any(a.startswith("-") for a in argv[1:2]):
        argv = argv + ["--ratings", "0"]  # a full demo run would take seconds per example
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's --help
        status = exit_.code
    assert status in (0, 2)
    assert "Traceback" not in capsys.readouterr().err
