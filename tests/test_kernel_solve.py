"""The small dense solvers of the row kernels against numpy."""

import numpy as np
import pytest
from numba import njit

from sparseals._kernels.solve import JITTERED, OK, cholesky, spd_solve

TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}


@njit
def _cholesky(a, n):
    return cholesky(a, n)


@njit
def _spd_solve(a, n, x, work):
    return spd_solve(a, n, x, work)


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
