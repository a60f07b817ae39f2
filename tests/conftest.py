"""Shared test fixtures: every test that compiles takes the ``mode`` fixture,
so each backend (python now; llvm and cuda as they land) runs the same cases."""

import numpy as np
import pytest

import graphc

BACKEND_MODES = ["python", "llvm"]


@pytest.fixture(params=BACKEND_MODES)
def mode(request):
    """The mode string to pass to graphc.function for the backend under test."""
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _restore_config():
    saved = dict(graphc.config._values)
    yield
    graphc.config._values.update(saved)
