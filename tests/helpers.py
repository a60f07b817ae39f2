"""Helpers shared by the tests: dtype-aware value comparison, and a parser of
debugprint's indented-tree lines."""
import re

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


_DEBUGPRINT_LINE = re.compile(r"^((?: \|)*)(.*?) \[id ([A-Z]+)\](.*)$")


def parse_debugprint(text):
    """[(depth, label, id, rest)] for each line of a debugprint."""
    rows = []
    for line in text.splitlines():
        m = _DEBUGPRINT_LINE.match(line)
        assert m, f"not a debugprint line: {line!r}"
        prefix, label, ident, rest = m.groups()
        rows.append((len(prefix) // 2, label, ident, rest))
    return rows
