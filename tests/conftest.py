"""Every test starts from a fresh backend session: a new graph, name counters from 1."""

from __future__ import annotations

import pytest

import kgraph.backend as K


@pytest.fixture(autouse=True)
def _fresh_session():
    K.clear_session()
    yield
