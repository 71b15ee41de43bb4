"""The small dense solvers of the row kernels against numpy."""

import numpy as np
import pytest
from numba import njit
from scipy.optimize import lsq_linear

from sparseals._kernels.solve import (JITTERED, OK, _append_variable, _remove_variable,
                                      cg_step_length, cholesky, nnls, spd_solve)

TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}


@njit
def _cholesky(a, n):
    return cholesky(a, n)


@njit
def _spd_solve(a, n, x, work):
    return spd_solve(a, n, x, work)


@njit
def _nnls(a, b, n, n_bounded, start=None):
    x = np.zeros(n + 1, a.dtype)  # one spare entry: it must stay untouched
    if start is not None:
        x[:n] = start
    x[n] = 7.0
    size = n + 1
    status = nnls(a, b, n, n_bounded, x, np.empty(size, np.bool_), np.empty(size, a.dtype),
                  np.empty((size, size), a.dtype), np.empty((size, size), a.dtype),
                  np.empty(size, np.int64))
    return x, status


def spd_matrix(rng, n, dtype):
    b = rng.standard_normal((3 * n, n))
    return (b.T @ b / n + 0.1 * np.eye(n)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, 5, 31, 64, 129])
def test_cholesky_matches_numpy(dtype, n):
    rng = np.random.default_rng(n)
    a = spd_matrix(rng, n, dtype)
    work = np.full((n + 2, n + 3), np.nan, dtype=dtype)  # larger than needed: strides matter
    work[:n, :n] = np.tril(a) + np.triu(np.full((n, n), np.nan), 1)  # only the lower part is read
    assert _cholesky(work, n)
    expected = np.linalg.cholesky(a.astype(np.float64))
    actual = np.tril(work[:n, :n]).astype(np.float64)
    assert np.abs(actual - expected).max() <= TOLERANCE[dtype] * np.abs(expected).max()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, 7, 35, 100])
def test_spd_solve_matches_numpy(dtype, n):
    rng = np.random.default_rng(n + 1)
    a = spd_matrix(rng, n, dtype)
    rhs = rng.standard_normal(n).astype(dtype)
    x = np.concatenate([rhs, [7.0]]).astype(dtype)  # the entry past n stays
    work = np.empty((n + 1, n + 1), dtype=dtype)
    assert _spd_solve(a.copy(), n, x, work) == OK
    expected = np.linalg.solve(a.astype(np.float64), rhs.astype(np.float64))
    assert np.abs(x[:n] - expected).max() <= TOLERANCE[dtype] * 10 * np.abs(expected).max()
    assert x[n] == 7.0


@pytest.mark.parametrize("n", [3, 37])
def test_singular_system_is_refused_then_ridged(n):
    rng = np.random.default_rng(n)
    a = np.zeros((n, n))
    a[:-1, :-1] = spd_matrix(rng, n - 1, np.float64)  # the last unknown appears nowhere
    assert not _cholesky(a.copy(), n)
    rhs = np.append(rng.standard_normal(n - 1), 0.0)
    x = rhs.copy()
    assert _spd_solve(a, n, x, np.empty((n, n))) == JITTERED
    assert np.isfinite(x).all()
    np.testing.assert_allclose(a @ x, rhs, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [5, 64])
def test_rounding_pivots_of_a_singular_matrix_are_refused(dtype, n):
    """Regression: a rank-one system in G's eigenbasis (λ = 0) has diagonal entries of
    rounding size, ±eps × its scale, off the one real direction. Their pivots are
    positive, and dividing the right-hand side's rounding by them gave factors of
    1e9–1e19, then NaN in the next iteration."""
    rng = np.random.default_rng(n)
    scale = 1e4
    a = np.diag(np.abs(rng.standard_normal(n)) * np.finfo(dtype).eps * scale)
    a[0, 0] = scale
    rhs = np.full(n, np.finfo(dtype).eps * scale)  # rounding off the real direction
    rhs[0] = scale
    a, rhs = a.astype(dtype), rhs.astype(dtype)
    work = np.empty((n, n), dtype=dtype)
    assert not _cholesky(a.copy(), n)
    x = rhs.copy()
    assert _spd_solve(a, n, x, work) == JITTERED
    assert abs(x[0] - 1.0) < 1e-2 and np.abs(x[1:]).max() < 1.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cg_step_length_stops_in_the_numerical_null_space(dtype):
    eps = np.finfo(dtype).eps
    k, scale = 4, 1e3
    a = np.diag([scale, 2.0, 1.0, eps * scale]).astype(dtype)  # the last: rounding of 0
    for p, stops in (([1, 1, 0, 0], False), ([0, 0, 0, 1], True), ([0, 0, 1, 0], False)):
        p = np.array(p, dtype=dtype)
        step = cg_step_length(dtype(3.0), p, a @ p, k, scale)
        assert (step == 0.0) == stops
        if not stops:
            assert step == pytest.approx(3.0 / (p @ a @ p), rel=1e-6)
    nan = np.array([np.nan, 0, 0, 0], dtype=dtype)
    assert cg_step_length(dtype(3.0), nan, nan, k, scale) == 0.0


def reference_nnls(a, b, n_bounded):
    """argmin ½ xᵀAx − bᵀx, x[:n_bounded] ≥ 0, as the bounded least-squares problem
    ‖Lᵀx − L⁻¹b‖² (A = LLᵀ) solved by scipy's BVLS."""
    lower = np.linalg.cholesky(a)
    bounds = (np.where(np.arange(len(b)) < n_bounded, 0.0, -np.inf), np.inf)
    result = lsq_linear(lower.T, np.linalg.solve(lower, b), bounds=bounds, method="bvls",
                        tol=1e-14, max_iter=10 * len(b))
    return result.x


def nnls_problem(rng, n, dtype):
    """A ridge normal matrix of non-negative factor rows and a right-hand side whose
    unconstrained solution has many negative entries, as in a non-negative half-step."""
    rows = np.abs(rng.standard_normal((2 * n + 5, n)))
    ratings = rng.standard_normal(2 * n + 5) + 0.5
    a = rows.T @ rows + 0.5 * np.eye(n)
    return a.astype(dtype), (rows.T @ ratings).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n, n_free", [(1, 0), (2, 1), (9, 0), (33, 1), (64, 0), (129, 1)])
def test_nnls_matches_bounded_least_squares(dtype, n, n_free):
    rng = np.random.default_rng(n)
    for trial in range(3):
        a, b = nnls_problem(rng, n, dtype)
        x, status = _nnls(a, b, n, n - n_free)
        assert status == OK and x[n] == 7.0
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        expected = reference_nnls(a64, b64, n - n_free)
        assert (x[:n - n_free] >= 0).all()
        scale = np.abs(expected).max()
        assert np.abs(x[:n] - expected).max() <= TOLERANCE[dtype] * 10 * scale
        if n > 8:
            assert 0 < (expected[:n - n_free] == 0).sum() < n - n_free  # a real active set
        # KKT: the gradient vanishes on the positive and free entries, is ≥ 0 on the zeros
        gradient = a64 @ x[:n].astype(np.float64) - b64
        tol = TOLERANCE[dtype] * 10 * np.abs(b64).max()
        positive = np.arange(n) >= n - n_free
        positive |= x[:n] > 0
        assert np.abs(gradient[positive]).max(initial=0) <= tol
        assert gradient[~positive].min(initial=0) >= -tol


@pytest.mark.parametrize("dtype, exponent", [(np.float64, -200), (np.float64, 300),
                                             (np.float32, -120), (np.float32, 40)])
def test_nnls_does_not_depend_on_the_problem_scale(dtype, exponent):
    """Bug: the optimality test's tolerance had a fixed floor of 1e-30, above the whole
    gradient of a small problem (a half-step of ratings of 1e-60 in float64, 1e-25 in
    float32): no variable entered and the solution stayed 0. Scaling A and b by a power of
    two leaves the solution the same, and here exactly so."""
    rng = np.random.default_rng(5)
    n = 9
    a, b = nnls_problem(rng, n, dtype)
    scale = dtype(2.0 ** exponent)
    x, status = _nnls(a, b, n, n)
    scaled, scaled_status = _nnls(a * scale, b * scale, n, n)
    assert status == scaled_status == OK
    assert 0 < (x[:n] == 0).sum() < n  # a real active set
    np.testing.assert_array_equal(scaled, x)
    expected = reference_nnls(a.astype(np.float64), b.astype(np.float64), n)
    assert np.abs(scaled[:n] - expected).max() <= TOLERANCE[dtype] * 10 * np.abs(expected).max()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nnls_warm_start_reaches_the_same_solution(dtype):
    """Started from the solution, a perturbed solution, a random point (negative and NaN
    entries included) or all ones, the solver ends where a cold start ends."""
    rng = np.random.default_rng(11)
    n = 48
    for n_free in (0, 1):
        a, b = nnls_problem(rng, n, dtype)
        cold, _ = _nnls(a, b, n, n - n_free)
        expected = reference_nnls(a.astype(np.float64), b.astype(np.float64), n - n_free)
        perturbed = cold[:n] * rng.uniform(0.5, 1.5, n) + (cold[:n] == 0) * rng.uniform(0, 1, n)
        noise = rng.standard_normal(n)
        noise[::7] = np.nan
        for start in (cold[:n], perturbed, noise, np.ones(n)):
            x, status = _nnls(a, b, n, n - n_free, start)
            assert status == OK and x[n] == 7.0
            assert (x[:n - n_free] >= 0).all()
            scale = np.abs(expected).max()
            assert np.abs(x[:n] - expected).max() <= TOLERANCE[dtype] * 10 * scale


def correlated_nnls_problem(rng, n, n_ratings):
    """The normal matrix of a row with many ratings of items whose non-negative factors
    are strongly correlated (a rank-10 pattern), as in a late non-negative fit: ``A``
    and ``b`` in the hundreds to thousands while the solution's entries are below 1."""
    rows = np.abs(rng.standard_normal((n_ratings, 10)) @ rng.standard_normal((10, n))) / 3
    ratings = np.clip(np.round(rng.normal(3.5, 1.0, n_ratings)), 1, 5)
    return rows.T @ rows + 0.1 * np.eye(n), rows.T @ ratings


@pytest.mark.parametrize("n", [64, 128])
def test_nnls_float32_keeps_small_positive_entries(n):
    """Float32 NNLS is near-optimal when the solution is small against ``A`` and ``b``:
    the solver once dropped every passive entry below a tolerance scaled by ``max |b|``
    (0.3 here), leaving objectives 5e-4 to 3e-2 above the optimum."""
    rng = np.random.default_rng(n)
    for trial in range(3):
        a, b = correlated_nnls_problem(rng, n, 400)
        a32, b32 = a.astype(np.float32), b.astype(np.float32)
        x, status = _nnls(a32, b32, n, n)
        a64, b64 = a32.astype(np.float64), b32.astype(np.float64)
        expected = reference_nnls(a64, b64, n)
        objective = lambda v: 0.5 * v @ a64 @ v - b64 @ v  # noqa: E731
        excess = objective(x[:n].astype(np.float64)) - objective(expected)
        assert excess <= 1e-5 * abs(objective(expected))
        assert (x[:n] >= 0).all() and ((expected > 0) & (expected < 0.2)).sum() > 5


def test_nnls_singular_subproblem_is_ridged():
    rng = np.random.default_rng(3)
    a, b = nnls_problem(rng, 6, np.float64)
    a[:, 5] = a[5, :] = 0.0  # the last unknown appears nowhere and is pulled up by b
    b[5] = 1.0
    x, status = _nnls(a, b, 6, 6)
    assert status == JITTERED
    assert np.isfinite(x[:6]).all() and (x[:6] >= 0).all()


@njit
def _append(a, j, chol, idx, m):
    # the tolerance nnls passes: cholesky's, n · eps · max(diagonal)
    tolerance = a.shape[0] * np.finfo(a.dtype).eps * np.diag(a).max()
    return _append_variable(a, j, chol, idx, m, tolerance)


@njit
def _remove(chol, idx, m, j, column):
    return _remove_variable(chol, idx, m, j, column)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nnls_factor_updates_match_a_new_factorisation(dtype):
    """The passive set's factor, grown and shrunk in a random order, stays the Cholesky
    factor of its submatrix (removals from the middle exercise the Givens update)."""
    rng = np.random.default_rng(5)
    n = 24
    a = spd_matrix(rng, n, dtype)
    chol = np.full((n + 1, n + 1), np.nan, dtype)  # NaN: a read of an unset entry shows
    idx = np.zeros(n, np.int64)
    column = np.empty(n, dtype)
    m = 0
    order = rng.permutation(n)
    for j in order[:16]:
        m = _append(np.tril(a), j, chol, idx, m)
    for step in range(12):
        if step % 3 == 2:
            m = _append(np.tril(a), order[16 + step // 3], chol, idx, m)
        else:
            m = _remove(chol, idx, m, idx[rng.integers(m)], column)
        members = idx[:m]
        assert len(set(members)) == m
        expected = np.linalg.cholesky(a[np.ix_(members, members)].astype(np.float64))
        assert np.allclose(np.tril(chol[:m, :m]), expected, rtol=0,
                           atol=TOLERANCE[dtype] * np.abs(expected).max())


def test_nnls_factor_append_reports_a_singular_matrix():
    a = np.array([[1.0, 0.0], [1.0, 1.0]])  # lower triangle of [[1, 1], [1, 1]]
    chol = np.zeros((3, 3))
    idx = np.zeros(2, np.int64)
    assert _append(a, 0, chol, idx, 0) == 1
    assert _append(a, 1, chol, idx, 1) == -1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nnls_factor_append_refuses_a_pivot_of_rounding(dtype):
    # [[1, 1], [1, 1 + eps]]: singular but for rounding; its pivot eps passed a "> 0" test
    eps = np.finfo(dtype).eps
    a = np.array([[1.0, 0.0], [1.0, 1.0 + eps]], dtype=dtype)
    chol = np.zeros((3, 3), dtype=dtype)
    idx = np.zeros(2, np.int64)
    assert _append(a, 0, chol, idx, 0) == 1
    assert _append(a, 1, chol, idx, 1) == -1
