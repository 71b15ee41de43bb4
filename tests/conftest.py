"""Shared fixtures: where the real data sets are, and whether their absence fails."""

import os
import signal
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


@pytest.fixture
def fail_if_it_blocks():
    """A TimeoutError, instead of a hang, when the test blocks for 60 s (opening a named
    pipe without a writer blocks). POSIX only, as named pipes are."""
    def fail(signum, frame):
        raise TimeoutError("blocked for 60 s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
