"""Shared fixtures: the shared data root (tests that need it skip cleanly without it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """``PASTEGEN_DATA_ROOT``, else ``../shared/data`` beside the repository."""
    return Path(os.environ.get("PASTEGEN_DATA_ROOT", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = data_root()
    if not (root / "faces" / "train").is_dir():
        pytest.skip(f"shared data not found at {root} (set PASTEGEN_DATA_ROOT)")
    return root


@pytest.fixture
def torch_one_thread():
    """Run a torch test on one thread (tests run two at a time on two cores) and restore after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
