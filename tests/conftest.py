"""Shared fixtures: the shared data root (tests that need it skip cleanly without it), a stand-in model zoo,
and a scan cache of the test session's own."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
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


@pytest.fixture(scope="session", autouse=True)
def isolated_scan_cache(tmp_path_factory) -> Iterator[Path]:
    """Point ``PASTEGEN_CACHE_DIR`` at a folder of this session, so no test (nor a command a test
    runs in a subprocess) reads or writes the user's scan cache in ``~/.cache``. Session-scoped, so
    it is in place before any module-scoped fixture scans photos; a test may point it elsewhere."""
    folder = tmp_path_factory.mktemp("scan-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PASTEGEN_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture
def torch_one_thread():
    """Run a torch test on one thread (tests run two at a time on two cores) and restore after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def fake_zoo(tmp_path, monkeypatch):
    """``fake_zoo(name, data=b"...", steps=12)``: a zoo folder (``$PASTENET_ZOO``) with one entry whose
    weights file holds ``data`` (any bytes: only its sha256 is checked on resolving); returns the file."""

    def make(name: str, data: bytes = b"zoo weights", steps: int = 12) -> Path:
        root = tmp_path / "zoo"
        (root / "weights").mkdir(parents=True, exist_ok=True)
        weights = root / "weights" / f"{name}.safetensors"
        weights.write_bytes(data)
        entry = {"file": weights.name, "sha256": hashlib.sha256(data).hexdigest(), "model": {}, "command": "", "data": "",
                 "licence": "", "figures": {}, "card": f"{name}.md", "steps": steps, "created": "", "description": ""}
        (root / "registry.json").write_text(json.dumps({"format": "pastenet-zoo", "version": 1, "models": {name: entry}}))
        monkeypatch.setenv("PASTENET_ZOO", str(root))
        return weights

    return make
