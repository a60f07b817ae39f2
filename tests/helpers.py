"""Comparison helpers shared by the op tests: same dtype, same shape, values
equal up to a tolerance that fits the dtype."""
import numpy as np


def tols(dtype):
    dtype = np.dtype(dtype)
    if dtype == np.float16:
        return dict(rtol=5e-3, atol=5e-3)
    if dtype == np.float32:
        return dict(rtol=1e-5, atol=1e-6)
    return dict(rtol=1e-10, atol=1e-12)


def assert_same(actual, expected):
    """Same dtype, same shape, values equal up to the dtype's tolerance."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(actual, expected, equal_nan=True, **tols(expected.dtype))
    else:
        np.testing.assert_array_equal(actual, expected)
