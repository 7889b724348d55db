"""Durable all-or-nothing writes (:mod:`pastegen.atomic`) and the writers that use them."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from pastegen import atomic
from pastegen.atomic import atomic_path, atomic_write_bytes, atomic_write_text


def _names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_bytes_creates_and_replaces_with_an_ordinary_files_mode(tmp_path):
    target = tmp_path / "a.json"
    assert atomic_write_bytes(target, b'{"x": 1}') == target
    assert target.read_bytes() == b'{"x": 1}' and _names(tmp_path) == ["a.json"]
    atomic_write_text(target, "héllo\n")
    assert target.read_text(encoding="utf-8") == "héllo\n" and _names(tmp_path) == ["a.json"]
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    assert _mode(target) == _mode(plain)  # 0o666 less the umask, not mkstemp's 0o600


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, error):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(error):
        with atomic_path(target) as tmp:
            tmp.write_text("half of the new")
            raise error("stop")
    assert target.read_text() == "old" and _names(tmp_path) == ["keep.txt"]
    with pytest.raises(error):
        with atomic_path(tmp_path / "new.txt") as tmp:
            raise error("stop")
    assert _names(tmp_path) == ["keep.txt"]


def test_write_bytes_failure_removes_the_temporary(tmp_path, monkeypatch):
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old" and _names(tmp_path) == ["x.bin"]


def test_the_file_is_fsynced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events = []
    real_replace, real_fsync = os.replace, os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    monkeypatch.setattr(atomic, "fsync_dir", lambda p: events.append(("fsync_dir", os.fspath(p))))
    atomic_write_bytes(tmp_path / "b", b"data")
    assert events == ["fsync", "replace", ("fsync_dir", os.fspath(tmp_path))]
    events.clear()
    with atomic_path(tmp_path / "c", suffix=".png") as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".png") and tmp.exists()
        tmp.write_bytes(b"png")
    assert events == ["fsync", "replace", ("fsync_dir", os.fspath(tmp_path))]
    assert (tmp_path / "c").read_bytes() == b"png"


def test_write_png_is_atomic(tmp_path, monkeypatch):
    import cv2

    from pastegen.preview import write_png

    image = np.zeros((4, 5, 3), np.uint8)
    image[1, 2] = (255, 0, 0)
    out = write_png(tmp_path / "grid.png", image)
    assert _names(tmp_path) == ["grid.png"]
    np.testing.assert_array_equal(cv2.imread(str(out))[..., ::-1], image)
    monkeypatch.setattr(cv2, "imwrite", lambda *a, **k: False)
    with pytest.raises(OSError, match="could not write"):
        write_png(tmp_path / "other.png", image)
    assert _names(tmp_path) == ["grid.png"]
