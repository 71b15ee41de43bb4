import numpy as np
import pytest

from sparseals import solvers
from sparseals.solvers import _rotated


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_rows", [0, 1, 5, 2 * 7 + 3])
def test_rotated_matches_numpy_in_place_or_not_on_any_thread_count(dtype, n_rows, monkeypatch):
    monkeypatch.setattr(solvers, "_ROTATION_ROWS", 7)  # several blocks, the last one partial
    rng = np.random.default_rng(n_rows)
    factors = rng.standard_normal((n_rows, 6)).astype(dtype)
    basis = rng.standard_normal((6, 6)).astype(dtype)
    expected = factors.astype(np.float64) @ basis.astype(np.float64)
    results = []
    for threads in (1, 2, 3):
        out = _rotated(factors, basis, np.empty_like(factors), threads)
        in_place = factors.copy()
        assert _rotated(in_place, basis, in_place, threads) is in_place
        np.testing.assert_array_equal(in_place, out)
        np.testing.assert_allclose(out, expected, rtol=1e-4 if dtype == np.float32 else 1e-12,
                                   atol=1e-5 if dtype == np.float32 else 1e-12)
        results.append(out)
    for other in results[1:]:
        np.testing.assert_array_equal(results[0], other)
