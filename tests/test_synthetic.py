"""The generators' parameter checks (their data is exercised by every other test file)."""

import numpy as np
import pytest

from sparseals.datasets import preset, synthetic


@pytest.mark.parametrize("kwargs, message", [
    (dict(noise=-1), r"noise must be a non-negative finite number; got -1.0"),  # numpy's words
    (dict(popularity_exponent=-1), r"popularity_exponent must be a non-negative"),  # int power
    (dict(popularity_exponent=500), r"popularity_exponent must be at most 4.0"),  # NaN weights
    (dict(popularity_exponent=4, nnz=3000), r"could not place 3000 unique pairs: 50 rounds"),
    # taken as true: counts instead of stars, a tuple instead of Ratings
    (dict(implicit="no"), r"implicit must be True or False; got 'no'"),
    (dict(return_truth="no"), r"return_truth must be True or False; got 'no'"),
    # minutes of allocating 24 GB before the int32 limit was checked in from_coo
    (dict(n_users=3_000_000_000, n_items=10, nnz=5), r"exceeds 2147483647 users or items"),
    (dict(dtype="float16"), r"dtype must be 'float32' or 'float64'"),
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


def test_synthetic_refuses_what_memory_cannot_hold(monkeypatch):
    from sparseals import _memory

    monkeypatch.setattr(_memory, "available_bytes", lambda: 1 << 30)
    with pytest.raises(MemoryError, match=r"synthetic\(1,000,000, 1,000,000, 5, rank=100\) "
                                          r"needs about 1.5 GiB but 1.0 GiB is available"):
        synthetic(1_000_000, 1_000_000, 5, rank=100)


def test_a_preset_name_that_is_not_text_is_named():
    with pytest.raises(ValueError, match=r"unknown preset \['ml1m'\]"):  # unhashable type
        preset(["ml1m"])
