"""The `pastenet` command line: help, dry run, a short run, resume, one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import pytest
import torch
from click.testing import CliRunner

import pastegen
from pastenet.cli import main


@pytest.fixture(scope="module")
def tuples(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("net-cli") / "small.h5"
    pastegen.make(path, pastegen.sample_image_paths(), pastegen.preset("sample", height=64, width=64), count=12, seed=0)
    return path


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _error_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1, result.output
    assert lines and lines[-1].startswith("Error: "), result.output
    return lines[-1]


FAST = ("--preset", "tiny", "--device", "cpu", "--workers", "0", "--batch", "2", "-q")


def test_help_and_version():
    result = run("--help")
    assert result.exit_code == 0 and "pastenet train" in result.output
    result = run("train", "--help")
    assert result.exit_code == 0 and "--resume" in result.output and "Examples" in result.output
    assert run("--version").output.startswith("pastenet, version")


def test_dry_run_prints_resolved_options(tuples, tmp_path):
    result = run("train", tuples, *FAST, "--out", tmp_path / "runs", "--dry-run")
    assert result.exit_code == 0, result.output
    options = json.loads(result.output)
    assert options["model"]["resolution"] == 64 and options["preset"] == "tiny" and options["batch"] == 2
    assert not (tmp_path / "runs").exists()


def test_train_then_resume(tuples, tmp_path):
    out = tmp_path / "runs"
    result = run("train", tuples, *FAST, "--steps", "3", "--out", out, "--checkpoint-every", "3")
    assert result.exit_code == 0, result.output
    (run_dir,) = out.iterdir()
    assert (run_dir / "checkpoints" / "step-00000003").is_dir()
    result = run("train", "--resume", run_dir, "--steps", "5", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((run_dir / "stats.jsonl").read_text().splitlines()[-1])["step"] == 5
    line = _error_line(run("train", "--resume", run_dir, "--steps", "7", "--batch", "3"))
    assert "batch" in line
    line = _error_line(run("train", "--resume", run_dir))
    assert "--steps" in line


def test_one_line_errors(tuples, tmp_path):
    assert "pastegen make" in _error_line(run("train", tmp_path / "missing.h5", *FAST, "--out", tmp_path))
    assert "tuple file" in _error_line(run("train", *FAST, "--out", tmp_path))
    unfinished = tmp_path / "unfinished.h5"
    shutil.copy(tuples, unfinished)
    with h5py.File(unfinished, "r+") as f:
        f.attrs["complete"] = 0
    assert "--resume" in _error_line(run("train", unfinished, *FAST, "--out", tmp_path))
    assert "no such run folder" in _error_line(run("train", "--resume", tmp_path / "nope"))
    result = run("train", tuples, "--preset", "huge")
    assert result.exit_code == 2 and "huge" in result.output  # click's usage error
    assert "CUDA" in _error_line(run("train", tuples, "--preset", "tiny", "--amp", "bf16", "--device", "cpu", "--out", tmp_path)) or torch.cuda.is_available()
