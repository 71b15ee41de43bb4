"""The in-kernel BLAS helpers against numpy products."""

import numpy as np
import pytest
from numba import njit

from sparseals._kernels.blas import add_lower_product, set_row_products

TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}


@njit
def _add_lower_product(x, y, size, dim, out):
    add_lower_product(x, y, size, dim, out)


@njit
def _set_rows(x, size, dim, out):
    set_row_products(x, size, dim, out)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dim", [1, 2, 7, 50, 64, 65, 130])  # 2, 3 and 4 blocks
@pytest.mark.parametrize("size", [1, 5, 130])
def test_add_lower_product_adds_the_lower_triangle(dtype, dim, size):
    rng = np.random.default_rng(dim * 1000 + size)
    x = rng.standard_normal((size + 3, dim + 2)).astype(dtype)  # extra rows and columns unread
    y = (x * rng.random((size + 3, 1))).astype(dtype)  # weighted rows: xᵀy symmetric
    out = rng.standard_normal((dim + 2, dim + 3)).astype(dtype)
    expected = out.copy()
    expected[:dim, :dim] += y[:size, :dim].T @ x[:size, :dim]
    actual = out.copy()
    _add_lower_product(x, y, size, dim, actual)
    lower = np.tril_indices(dim)
    scale = np.abs(expected).max()
    assert np.abs(actual[:dim, :dim][lower] - expected[:dim, :dim][lower]).max() <= TOLERANCE[dtype] * scale
    # nothing outside the leading dim × dim block is touched
    assert np.array_equal(actual[dim:], out[dim:])
    assert np.array_equal(actual[:, dim:], out[:, dim:])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dim", [1, 3, 129])
@pytest.mark.parametrize("size", [1, 6, 100])
def test_set_row_products_is_x_xt(dtype, dim, size):
    rng = np.random.default_rng(dim * 1000 + size)
    x = rng.standard_normal((size + 3, dim + 2)).astype(dtype)
    out = rng.standard_normal((size + 2, size + 4)).astype(dtype)
    expected = out.copy()
    expected[:size, :size] = x[:size, :dim] @ x[:size, :dim].T
    actual = out.copy()
    _set_rows(x, size, dim, actual)
    assert np.abs(actual - expected).max() <= TOLERANCE[dtype] * np.abs(expected).max()


def test_non_contiguous_arrays_are_refused_when_compiled():
    from numba.core.errors import TypingError

    x = np.ones((4, 6))
    with pytest.raises(TypingError, match="C-contiguous"):
        _set_rows(x[:, ::2], 2, 3, np.zeros((2, 2)))
    with pytest.raises(TypingError, match="one dtype"):
        _add_lower_product(x, x.astype(np.float32), 2, 3, np.zeros((3, 3)))
