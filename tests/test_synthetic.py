"""The generators' parameter checks (their data is exercised by every other test file)."""

import numpy as np
import pytest

from sparseals.datasets import preset, synthetic


@pytest.mark.parametrize("kwargs, message", [
    (dict(noise=-1), r"noise must be a non-negative finite number; got -1.0"),  # numpy's words
    (dict(popularity_exponent=-1), r"popularity_exponent must be a non-negative"),  # int power
    (dict(popularity_exponent=500), r"popularity_exponent must be at most 4.0"),  # NaN weights
    (dict(popularity_exponent=4, nnz=3000), r"could not place 3000 unique pairs: 50 rounds"),
])
def test_synthetic_parameters_are_checked(kwargs, message):
    arguments = {"n_users": 100, "n_items": 80, "nnz": 500, **kwargs}
    with pytest.raises(ValueError, match=message):
        synthetic(**arguments)


@pytest.mark.parametrize("scale, message", [
    (0, "scale must be positive"), (-5, "scale must be a non-negative finite number"),
    ("0.1", "scale must be a non-negative number; got '0.1'"),  # was the text repeated
])
def test_preset_scale_is_checked(scale, message):
    # 0 and -5 gave one rating without a word
    with pytest.raises(ValueError, match=message):
        preset("ml100k", scale=scale)


def test_an_integer_exponent_draws_what_the_same_float_draws():
    a = synthetic(60, 40, 500, popularity_exponent=1, seed=2)
    b = synthetic(60, 40, 500, popularity_exponent=1.0, seed=2)
    np.testing.assert_array_equal(a.by_user.indices, b.by_user.indices)
