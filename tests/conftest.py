"""Shared fixtures: where the real data sets are, and whether their absence fails."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def data_dir():
    """The shared data folder: $SPARSEALS_DATA, else ../shared/data beside the repository."""
    return Path(os.environ.get("SPARSEALS_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data():
    """Path of the real data sets; CI (SPARSEALS_REQUIRE_DATA=1) fails when they are missing."""
    path = data_dir()
    if not (path / "ml-100k" / "u.data").is_file():
        message = f"real data sets not found at {path} (set SPARSEALS_DATA)"
        if os.environ.get("SPARSEALS_REQUIRE_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path
