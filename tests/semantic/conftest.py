"""Fixtures of the semantic tests: the shapes collection behind a real server, built once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from latentspace_client import Client
from tests.semantic import shapes_server


@pytest.fixture(scope="session")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """A client whose default collection is the built ``shapes`` (see :mod:`tests.semantic.shapes_server`)."""
    yield from shapes_server.shapes_client(tmp_path_factory.mktemp("shapes"))
