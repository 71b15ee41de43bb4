"""The explicit half-step kernel against the slow reference, and its properties."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal

from naive import explicit_rows, explicit_user_gradient
from sparseals import solvers
from sparseals.ratings import Compressed
from sparseals.solvers import _dense_explicit_step, explicit_half_step, implicit_half_step

TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}


def sparse_problem(rng, n_rows=60, n_cols=40, k=6, density=0.15):
    """Random ratings with empty rows, and rows with fewer ratings than k."""
    dense = np.where(rng.random((n_rows, n_cols)) < density,
                     rng.normal(3.0, 1.0, (n_rows, n_cols)), np.nan)
    dense[:3] = np.nan  # empty rows
    dense[3, 5:] = np.nan  # at most 5 ratings < k
    dense[4, 1:] = np.nan
    other = rng.standard_normal((n_cols, k))
    return dense, other


def compressed(dense, index_dtype=np.int32):
    mask = ~np.isnan(dense)
    rows, cols = np.nonzero(mask)
    csr = sp.csr_matrix((dense[rows, cols], (rows, cols)), shape=dense.shape)
    csr.sort_indices()
    return Compressed(csr.indptr.astype(index_dtype), csr.indices.astype(np.int32), csr.data)


def relative_error(actual, expected):
    return np.abs(actual - expected).max() / max(np.abs(expected).max(), 1.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reg_exponent", [0.0, 1.0])
@pytest.mark.parametrize("biases", [False, True])
def test_half_step_matches_reference(dtype, reg_exponent, biases):
    rng = np.random.default_rng(1)
    dense, other = sparse_problem(rng)
    other_bias = rng.standard_normal(other.shape[0]) if biases else None
    shift = 3.0 if biases else 0.0
    expected, expected_bias = explicit_rows(dense, other, 0.3, reg_exponent, other_bias, shift)
    factors, bias, singular = explicit_half_step(
        compressed(dense), other.astype(dtype), regularization=0.3, reg_exponent=reg_exponent,
        other_biases=other_bias, global_mean=shift)
    assert factors.dtype == dtype and singular == 0
    assert relative_error(factors, expected) < TOLERANCE[dtype]
    assert np.all(factors[:3] == 0)  # empty rows: zero, never NaN
    if biases:
        assert relative_error(bias, expected_bias) < TOLERANCE[dtype]
        assert np.all(bias[:3] == 0)
    else:
        assert bias is None


@pytest.mark.parametrize("k", [9, 100])
def test_long_rows_span_several_gathered_blocks(k):
    # 700 ratings per row: several gemm blocks, of 128 rows at k = 9 and of 81 at k = 100
    rng = np.random.default_rng(2)
    dense = rng.normal(size=(3, 700))
    dense[1, ::3] = np.nan
    other = rng.standard_normal((700, k))
    expected, _ = explicit_rows(dense, other, 0.1)
    factors, _, _ = explicit_half_step(compressed(dense), other, regularization=0.1)
    assert relative_error(factors, expected) < 1e-10


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("biases", [False, True])
@pytest.mark.parametrize("nonnegative", [False, True])
def test_row_losses_are_the_residuals_of_the_rows_kept_gathered(monkeypatch, dtype, biases,
                                                                 nonnegative):
    # rows of 0, 5 (dual solve), 100 (one block), 250 (two blocks, kept whole) and 700
    # ratings (more than the 300 kept gathered: its residuals are left to the caller)
    monkeypatch.setattr(solvers, "_explicit_gathered_rows", lambda dim, dtype: 300)
    rng = np.random.default_rng(11)
    k, n_cols = 8, 700
    dense = np.full((5, n_cols), np.nan)
    for row, n in enumerate((0, 5, 100, 250, 700)):
        cols = rng.choice(n_cols, size=n, replace=False)
        dense[row, cols] = rng.normal(3.0, 1.0, n)
    other = np.abs(rng.standard_normal((n_cols, k))).astype(dtype)
    other_bias = rng.standard_normal(n_cols).astype(dtype) if biases else None
    target = np.zeros((5, k), dtype=dtype)
    target_bias = np.zeros(5, dtype=dtype) if biases else None
    losses = np.full(5, np.nan)
    rows = compressed(dense)
    solvers._explicit_step(rows._replace(data=rows.data.astype(dtype)), other, other_bias, 3.0,
                           target, target_bias, 0.1, 0.0, nonnegative, 2, losses)
    if not nonnegative:
        expected, _ = explicit_rows(dense, other.astype(np.float64), 0.1, 0.0,
                                    None if other_bias is None else other_bias.astype(float), 3.0)
        assert relative_error(target, expected) < TOLERANCE[dtype]
    predicted = target.astype(np.float64) @ other.T.astype(np.float64) + 3.0
    if biases:
        predicted += target_bias.astype(np.float64)[:, None] + other_bias[None, :]
    residuals = np.where(np.isnan(dense), 0.0, dense - predicted)
    expected_losses = (residuals ** 2).sum(axis=1)
    expected_losses[4] = np.nan  # the 700-rating row: not kept gathered
    assert losses == pytest.approx(expected_losses, rel=TOLERANCE[dtype], abs=1e-12,
                                   nan_ok=True)


def test_int64_index_pointers_give_the_same_answer():
    rng = np.random.default_rng(3)
    dense, other = sparse_problem(rng)
    small, _, _ = explicit_half_step(compressed(dense, np.int32), other, regularization=0.2)
    large, _, _ = explicit_half_step(compressed(dense, np.int64), other, regularization=0.2)
    np.testing.assert_array_equal(small, large)


def test_scipy_input_is_accepted():
    rng = np.random.default_rng(4)
    dense, other = sparse_problem(rng)
    via_scipy, _, _ = explicit_half_step(sp.csr_array(np.nan_to_num(dense)), other,
                                         regularization=0.2)
    # zeros of nan_to_num are not stored by csr_array, so this is the same problem
    expected, _, _ = explicit_half_step(compressed(dense), other, regularization=0.2)
    np.testing.assert_allclose(via_scipy, expected, rtol=1e-12)


@pytest.mark.parametrize("scale, reg", [(1e4, 0.1), (1e-4, 1e-10)])
@pytest.mark.parametrize("nonnegative", [False, True])
def test_biases_with_factors_far_from_unit_size_are_solved_without_a_ridge(scale, reg,
                                                                           nonnegative):
    """The Cholesky judged pivots against the largest diagonal entry: with factor rows of
    10⁴ (ratings of 10⁴, or the first item step of such a fit) the bias entry, n + λ, looked
    like rounding in float32, and with rows of 10⁻⁴ the factors' did; every row got a ridge
    that swamped it (a fit's float32 loss ended 30× the float64 one)."""
    rng = np.random.default_rng(3)
    dense, other = sparse_problem(rng, k=5, density=0.4)
    dense[3:5] = np.nan  # rows longer than their unknowns only: the primal solve
    other *= scale
    other_bias = rng.standard_normal(other.shape[0])
    fits = [explicit_half_step(compressed(dense), other.astype(dtype), regularization=reg,
                               other_biases=other_bias, global_mean=3.0,
                               nonnegative=nonnegative) for dtype in (np.float32, np.float64)]
    (factors, bias, singular), (expected, expected_bias, _) = fits
    if not nonnegative:  # the float64 solve is right at this scale; so is the reference
        assert relative_error(expected * scale, explicit_rows(dense, other, reg, 0.0,
                                                              other_bias, 3.0)[0] * scale) < 1e-9
    assert singular == 0
    assert relative_error(factors * scale, expected * scale) < 1e-3
    assert relative_error(bias, expected_bias) < 1e-3


def test_rows_shorter_than_their_unknowns_with_biases_and_small_factor_rows():
    """The dual form's entries y_p·y_q + 1 held factor products of 10⁻⁸ beside the bias's 1,
    below float32's rounding: rows of fewer ratings than unknowns were solved as singular,
    their biases off by up to 4.1 (the largest is 3.9). Such rows now take the primal form."""
    rng = np.random.default_rng(0)
    dense = np.where(rng.random((50, 40)) < 0.08, rng.integers(1, 6, (50, 40)), np.nan)
    other = 1e-4 * rng.standard_normal((40, 8))
    other_bias = rng.standard_normal(40)
    short = (~np.isnan(dense)).sum(axis=1) < 9
    assert short.sum() > 40
    expected, expected_bias = explicit_rows(dense, other, 1e-10, 0.0, other_bias, 3.0)
    factors, bias, singular = explicit_half_step(
        compressed(dense), other.astype(np.float32), regularization=1e-10,
        other_biases=other_bias, global_mean=3.0)
    assert singular == 0
    assert relative_error(bias, expected_bias) < 1e-3
    predicted = factors.astype(np.float64) @ other.T + bias[:, None]
    wanted = expected @ other.T + expected_bias[:, None]
    assert relative_error(predicted[~np.isnan(dense)], wanted[~np.isnan(dense)]) < 1e-4


@pytest.mark.parametrize("reg_exponent", [0.0, 1.0])
def test_gradient_is_zero_after_a_half_step(reg_exponent):
    rng = np.random.default_rng(5)
    dense, other = sparse_problem(rng, k=4)
    factors, _, _ = explicit_half_step(compressed(dense), other, regularization=0.5,
                                       reg_exponent=reg_exponent)
    gradient = explicit_user_gradient(dense, factors, other, 0.5, reg_exponent)
    assert np.abs(gradient).max() < 1e-9 * max(1.0, np.abs(factors).max())


def test_singular_rows_get_a_tiny_ridge_and_stay_finite():
    rng = np.random.default_rng(6)
    dense, other = sparse_problem(rng, k=8)
    factors, _, singular = explicit_half_step(compressed(dense), other, regularization=0.0)
    assert singular >= 2  # rows 3 and 4 have fewer ratings than factors
    assert np.isfinite(factors).all()
    # the ridge is tiny: the fit to the observed entries is (near) exact for those rows
    row = 4
    cols = np.flatnonzero(~np.isnan(dense[row]))
    np.testing.assert_allclose(other[cols] @ factors[row], dense[row, cols], atol=1e-6)


@pytest.mark.parametrize("scale", [1e-2, 1e-3])
def test_singular_rows_with_small_factor_rows_get_a_ridge_of_their_own_scale(scale):
    """The ridge was 1e3·eps·max(mean diagonal, 1): for factor rows of 10⁻² its floor, 1e-4
    in float32, was a thousand times the systems' diagonal, and the rows with fewer ratings
    than factors (λ = 0) came out near zero, missing their ratings by up to 2.7 (10⁻²) and
    5.0 (10⁻³), of ratings 1-5."""
    rng = np.random.default_rng(0)
    dense = np.where(rng.random((40, 30)) < 0.1, rng.integers(1, 6, (40, 30)), np.nan)
    rng.standard_normal((30, 8))  # the draw of the unit-scale case, for the same rows
    other = (scale * rng.standard_normal((30, 8))).astype(np.float32)
    factors, _, singular = explicit_half_step(compressed(dense), other, regularization=0.0)
    counts = (~np.isnan(dense)).sum(axis=1)
    short = (counts > 0) & (counts < 8)
    assert singular >= short.sum() > 30
    fitted = factors.astype(np.float64) @ other.T.astype(np.float64)
    rated = ~np.isnan(dense) & short[:, None]
    assert np.abs(fitted - dense)[rated].max() < 0.02


@pytest.mark.parametrize("biases", [False, True])
def test_nonnegative_rows_satisfy_kkt(biases):
    rng = np.random.default_rng(7)
    dense, other = sparse_problem(rng, k=5, density=0.4)
    other = np.abs(other)
    other_bias = rng.standard_normal(other.shape[0]) if biases else None
    reg = 0.2
    factors, bias, _ = explicit_half_step(compressed(dense), other, regularization=reg,
                                          other_biases=other_bias, nonnegative=True,
                                          global_mean=1.0 if biases else 0.0)
    assert (factors >= 0).all()
    assert ((factors == 0).any(axis=1)).sum() > 5  # the constraint is active somewhere
    for i in range(dense.shape[0]):
        cols = np.flatnonzero(~np.isnan(dense[i]))
        if len(cols) == 0:
            continue
        target = dense[i, cols] - (1.0 + other_bias[cols] if biases else 0.0)
        pred = other[cols] @ factors[i] + (bias[i] if biases else 0.0)
        residual = target - pred
        grad = -other[cols].T @ residual + reg * factors[i]  # ½ gradient
        scale = 1e-8 * max(1.0, np.abs(other[cols].T @ target).max())
        free = factors[i] > 0
        assert np.abs(grad[free]).max(initial=0) < scale
        assert grad[~free].min(initial=0) > -scale
        if biases:
            assert abs(-residual.sum() + reg * bias[i]) < scale


@pytest.mark.parametrize("biases", [False, True])
def test_nonnegative_rows_start_from_the_target_and_end_at_the_cold_solution(biases):
    """The NNLS half-step starts each row from ``target``'s row (a fit passes the current
    factors); from the cold solution, a perturbed copy or a random start with negative
    entries, the result is the cold start's."""
    rng = np.random.default_rng(12)
    dense, other = sparse_problem(rng, k=7, density=0.4)
    other = np.abs(other)
    other_bias = rng.standard_normal(other.shape[0]) if biases else None
    rows = compressed(dense)
    cold, cold_bias, _ = explicit_half_step(rows, other, regularization=0.2,
                                            other_biases=other_bias, nonnegative=True)
    assert ((cold == 0).any(axis=1)).sum() > 5
    starts = (cold.copy(), cold * rng.uniform(0.5, 1.5, cold.shape) + (cold == 0) * 0.3,
              rng.standard_normal(cold.shape))
    for start in starts:
        target_bias = rng.standard_normal(len(cold)) if biases else None
        solvers._explicit_step(rows, other, other_bias, 0.0, start, target_bias, 0.2, 0.0,
                               True, 2)
        np.testing.assert_allclose(start, cold, rtol=0, atol=1e-10)
        if biases:
            np.testing.assert_allclose(target_bias, cold_bias, rtol=0, atol=1e-10)
    public, _, _ = explicit_half_step(rows, other, regularization=0.2, other_biases=other_bias,
                                      nonnegative=True, initial=rng.uniform(0, 1, cold.shape))
    np.testing.assert_allclose(public, cold, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="initial has shape"):
        explicit_half_step(rows, other, regularization=0.2, nonnegative=True,
                           initial=cold[:-1])
    with pytest.raises(ValueError, match="initial"):
        explicit_half_step(rows, other, regularization=0.2, nonnegative=True,
                           initial=np.full_like(cold, np.nan))
    with pytest.raises(ValueError, match="initial has shape"):
        explicit_half_step(rows, other, regularization=0.2, initial=cold.T)
    unconstrained, _, _ = explicit_half_step(rows, other, regularization=0.2)
    ignored, _, _ = explicit_half_step(rows, other, regularization=0.2, initial=cold + 1.0)
    np.testing.assert_array_equal(ignored, unconstrained)


@pytest.mark.parametrize("layout", ["same dtype", "other dtype", "fortran order"])
def test_half_step_leaves_the_callers_initial_alone(layout):
    """The half-step overwrites its own array, never ``initial``, whatever the conversion."""
    rng = np.random.default_rng(13)
    dense, other = sparse_problem(rng, k=5, density=0.4)
    other = np.abs(other)
    rows = compressed(dense)
    cold, _, _ = explicit_half_step(rows, other, regularization=0.2, nonnegative=True)
    start = rng.uniform(0, 1, cold.shape)
    if layout == "other dtype":
        start = start.astype(np.float32)
    elif layout == "fortran order":
        start = np.asfortranarray(start)
    kept = start.copy()
    result, _, _ = explicit_half_step(rows, other, regularization=0.2, nonnegative=True,
                                      initial=start)
    np.testing.assert_array_equal(start, kept)
    np.testing.assert_allclose(result, cold, rtol=0, atol=1e-10)
    assert result.dtype == other.dtype and result.flags.c_contiguous


@pytest.mark.parametrize("biases", [False, True])
def test_dense_fast_path_matches_the_sparse_kernel(biases):
    rng = np.random.default_rng(8)
    values = rng.normal(3, 1, (20, 30))
    other = rng.standard_normal((30, 4))
    other_bias = rng.standard_normal(30) if biases else None
    expected, expected_bias, _ = explicit_half_step(
        compressed(values), other, regularization=0.7, reg_exponent=1.0,
        other_biases=other_bias, global_mean=3.0 if biases else 0.0)
    target = np.empty((20, 4))
    target_bias = np.empty(20) if biases else None
    _dense_explicit_step(values, other, other_bias, 3.0 if biases else 0.0, target,
                         target_bias, 0.7, 1.0, None)
    np.testing.assert_allclose(target, expected, rtol=1e-10, atol=1e-12)
    if biases:
        np.testing.assert_allclose(target_bias, expected_bias, rtol=1e-10, atol=1e-12)


def _edited(matrix, **arrays):
    """``matrix`` with some index arrays overwritten in place, the way a caller can break one."""
    for name, values in arrays.items():
        getattr(matrix, name)[:] = values
    return matrix


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(other_factors=np.ones(3)), ValueError, r"other_factors must be 2-D"),
    (dict(other_factors=np.ones((3, 0))), ValueError, r"with K ≥ 1; got shape \(3, 0\)"),
    (dict(other_factors=np.ones((3, 2), dtype=np.int64)), ValueError, r"other_factors' dtype must be 'float32' or 'float64'"),
    (dict(other_factors=np.full((3, 2), np.nan)), ValueError, r"other_factors contains 6 NaN"),
    (dict(rows=sp.csr_matrix(np.ones((2, 4)))), ValueError, r"rows has shape \(2, 4\); expected \(n_rows, 3\)"),
    (dict(rows=Compressed(np.array([0, 1]), np.array([7]), np.array([1.0]))), ValueError, r"rows.indices contains id 7"),
    (dict(rows=Compressed(np.array([0, 2]), np.array([1]), np.array([1.0]))), ValueError, r"rows.indptr ends at 2, past the 1 entries of rows.indices"),
    (dict(rows=Compressed(np.array([1, 1]), np.array([1]), np.array([1.0]))), ValueError, r"rows.indptr must start at 0; got 1"),
    (dict(rows=Compressed(np.array([0, 1, 0]), np.array([1]), np.array([1.0]))), ValueError, r"rows.indptr decreases from 1 to 0 at position 2"),
    (dict(rows=Compressed(np.array([0, 1]), np.array([1, 2]), np.array([1.0, 1.0]))), ValueError, r"must end at len\(rows.indices\) = 2"),
    (dict(rows=Compressed(np.array([], dtype=np.int32), np.array([1]), np.array([1.0]))), ValueError, r"rows.indptr is empty"),
    (dict(rows=_edited(sp.csr_matrix(np.ones((2, 3))), indptr=[0, 4, 3])), ValueError, r"rows.indptr decreases from 4 to 3"),
    (dict(rows=_edited(sp.csc_matrix(np.ones((2, 3))), indices=[0, 1, 0, 5, 0, 1])), ValueError, r"rows.indices contains id 5 at position 3, out of range for 2 rows"),
    (dict(rows=_edited(sp.coo_matrix(np.ones((2, 3))), col=[0, 1, 2, 0, 1, 9])), ValueError, r"rows.col contains id 9 at position 5, out of range for 3 rows of other_factors"),
    (dict(rows=np.ones((2, 3))), TypeError, r"rows must be a scipy.sparse matrix or a Compressed"),
    (dict(regularization=-1.0), ValueError, r"regularization must be a non-negative finite number; got -1.0"),
    # factors whose squares overflow: the float32 solve returned zeros without a word
    (dict(other_factors=np.full((3, 2), 1e20, dtype=np.float32)), ValueError, r"other_factors reach 1e\+20, too large for float32"),
    (dict(regularization=1e39, other_factors=np.ones((3, 2), dtype=np.float32)), ValueError, r"regularization=1e\+39 is too large for float32 arithmetic \(at most ~3e\+30\)"),
    (dict(reg_exponent=200, other_factors=np.ones((3, 2), dtype=np.float32)), ValueError, r"regularization=0.1 weighted by reg_exponent=200 is too large for float32 arithmetic: the longest row's penalty regularization × 3\^200"),
    (dict(other_biases=np.ones(2)), ValueError, r"other_biases has length 2; expected 3"),
    # every factor NaN, a string taken as a number, overflow to inf: all without a word
    (dict(global_mean=np.nan), ValueError, r"global_mean must be a finite number within float64 arithmetic"),
    (dict(global_mean="1"), ValueError, r"global_mean must be a finite number .* got '1'"),
    (dict(global_mean=1e300, other_factors=np.ones((3, 2), dtype=np.float32)), ValueError, r"within float32 arithmetic \(\|μ\| ≤ ~2e\+15\); got 1e\+300"),
    # a truthy string solved the constrained problem
    (dict(nonnegative="False"), ValueError, r"nonnegative must be True or False; got 'False'"),
    # False ran on every core (False == 0), 1.5 on one, '2' was a TypeError from a comparison
    (dict(num_threads=False), ValueError, r"num_threads must be an integer or None; got False"),
    (dict(num_threads="2"), ValueError, r"num_threads must be an integer or None; got '2'"),
])
def test_half_step_validates(kwargs, error, message):
    arguments = dict(rows=sp.csr_matrix(np.ones((2, 3))), other_factors=np.ones((3, 2)),
                     regularization=0.1)
    arguments.update(kwargs)
    rows = arguments.pop("rows")
    other = arguments.pop("other_factors")
    with pytest.raises(error, match=message):
        explicit_half_step(rows, other, **arguments)


@pytest.mark.parametrize("step", [explicit_half_step, implicit_half_step])
def test_half_steps_take_big_endian_arrays(step):
    """A Compressed triple of '>i4' failed inside numba (TypingError), and '>f4' factors
    were refused as not 'float32'."""
    rows = sp.random(20, 30, density=0.3, format="csr", random_state=0, dtype=np.float32)
    other = np.random.default_rng(0).standard_normal((30, 4)).astype(np.float32)
    swapped = Compressed(rows.indptr.astype(">i4"), rows.indices.astype(">i4"),
                         rows.data.astype(">f4"))
    got = step(swapped, other.astype(">f4"), regularization=0.1)[0]
    assert_array_equal(got, step(rows, other, regularization=0.1)[0])


def test_half_step_leaves_a_callers_matrix_with_duplicates_alone():
    """Regression: sum_duplicates on a matrix that shared the caller's arrays rewrote them."""
    indptr, indices, values = np.array([0, 3, 5]), np.array([2, 0, 2, 1, 1]), np.arange(1.0, 6.0)
    rows = sp.csr_matrix((values.copy(), indices.copy(), indptr.copy()), shape=(2, 3))
    other = np.random.default_rng(0).standard_normal((3, 2))
    got, _, _ = explicit_half_step(rows, other, regularization=0.1)
    assert_array_equal(rows.indptr, indptr)
    assert_array_equal(rows.indices, indices)
    assert_array_equal(rows.data, values)
    summed = sp.csr_matrix(rows.toarray())
    assert_allclose(got, explicit_half_step(summed, other, regularization=0.1)[0], rtol=1e-12)


def test_half_step_takes_a_matrix_whose_arrays_run_past_its_entries():
    """scipy lets indices/data be longer than indptr[-1] (spare capacity)."""
    rows = sp.csr_matrix((np.array([1.0, 2.0, 3.0, 9.0]), np.array([0, 2, 1, 0]),
                          np.array([0, 2, 3])), shape=(2, 3))
    other = np.random.default_rng(0).standard_normal((3, 2))
    trimmed = sp.csr_matrix((rows.data[:3], rows.indices[:3], rows.indptr), shape=(2, 3))
    assert_allclose(explicit_half_step(rows, other, regularization=0.1)[0],
                    explicit_half_step(trimmed, other, regularization=0.1)[0], rtol=1e-12)


@pytest.mark.parametrize("biases", [False, True])
def test_short_rows_take_the_dual_form_and_long_rows_the_primal_with_one_answer(biases):
    # rows of 1 .. 25 ratings around K = 10 unknowns: n < d rows are solved as n × n systems
    rng = np.random.default_rng(9)
    k, n_cols = 10, 40
    dense = np.full((25, n_cols), np.nan)
    for i in range(25):
        cols = rng.choice(n_cols, size=i + 1, replace=False)
        dense[i, cols] = rng.normal(3.0, 1.0, i + 1)
    other = rng.standard_normal((n_cols, k))
    other_bias = rng.standard_normal(n_cols) if biases else None
    for reg_exponent in (0.0, 1.0):
        expected, expected_bias = explicit_rows(dense, other, 0.05, reg_exponent, other_bias, 1.0)
        factors, bias, _ = explicit_half_step(compressed(dense), other, regularization=0.05,
                                              reg_exponent=reg_exponent, other_biases=other_bias,
                                              global_mean=1.0)
        assert relative_error(factors, expected) < 1e-10
        if biases:
            assert relative_error(bias, expected_bias) < 1e-10


def test_a_compressed_triple_with_a_pair_twice_is_summed_as_scipy_sums_it():
    """The pair counted as two ratings in a Compressed triple and as one (their sum) in a
    scipy matrix of the same arrays: two answers for one input."""
    from sparseals.solvers import implicit_half_step

    other = np.random.default_rng(0).standard_normal((5, 2))
    triple = Compressed(np.array([0, 3]), np.array([1, 1, 3], dtype=np.int32),
                        np.array([4.0, 2.0, 5.0]))
    matrix = sp.csr_matrix((triple.data, triple.indices, triple.indptr), shape=(1, 5))
    summed = sp.csr_matrix(([6.0, 5.0], ([0, 0], [1, 3])), shape=(1, 5))
    for step in (explicit_half_step, implicit_half_step):
        expected = step(summed, other, regularization=0.1)[0]
        np.testing.assert_array_equal(step(triple, other, regularization=0.1)[0], expected)
        np.testing.assert_array_equal(step(matrix, other, regularization=0.1)[0], expected)
    assert triple.indices.tolist() == [1, 1, 3]  # the caller's arrays are left as they were
