"""The model zoo: every shipped model loads by name, matches its hash and its golden output;
``pastenet export`` round trip, the recorded training command, ``pastenet models``, names on the CLI."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import pastegen
from pastenet.cli import main
from pastenet.errors import CheckpointError, ZooError
from pastenet.paste import load_generator, read_image, write_image
from pastenet.zoo import PACKAGE_ZOO, get_model, is_model_name, list_models, load_registry, model_file
from pastenet.zoo.command import api_only_options, train_command
from pastenet.zoo.export import export_model
from pastenet.zoo.golden import compare, golden_paste
from pastenet.zoo.registry import CARDS_DIR, GOLDEN_DIR, WEIGHTS_DIR, file_sha256

pytestmark = pytest.mark.usefixtures("torch_one_thread")

SHIPPED = list_models(PACKAGE_ZOO)


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, env=env)


def _error_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1, result.output
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


@pytest.fixture(autouse=True)
def _package_zoo(monkeypatch):
    """Every test starts from the shipped zoo, whatever the caller's PASTENET_ZOO."""
    monkeypatch.delenv("PASTENET_ZOO", raising=False)


# --- the shipped models -------------------------------------------------------------------------------


def test_the_package_ships_a_faces_and_a_scenes_model():
    names = [e.name for e in SHIPPED]
    assert any(n.startswith("faces") for n in names) and any(n.startswith("scenes") for n in names), names


def test_shipped_registry_is_consistent():
    """Every listed file exists and every shipped file is listed (an empty zoo passes only when empty)."""
    registry = load_registry(PACKAGE_ZOO)
    for entry in registry.values():
        assert entry.path.is_file(), f"the registry lists {entry.path}, which is missing"
        assert entry.card_path.is_file(), f"the registry lists {entry.card_path}, which is missing"
        assert entry.golden and entry.golden_path.is_file(), f"{entry.name} has no golden output {entry.golden_path}"
        assert entry.file == f"{entry.name}.safetensors" and entry.command.startswith(("pastenet train", "PASTEGEN_DATA_ROOT="))
        assert entry.size in (None, entry.path.stat().st_size)
    for folder, field in ((WEIGHTS_DIR, "file"), (CARDS_DIR, "card"), (GOLDEN_DIR, "golden")):
        listed = {getattr(e, field) for e in registry.values()}
        present = {p.name for p in (PACKAGE_ZOO / folder).glob("*") if p.is_file() and not p.name.startswith(".")}
        assert present <= listed, f"{folder}/ holds files the registry does not list: {sorted(present - listed)}"


@pytest.mark.parametrize("entry", SHIPPED, ids=lambda e: e.name)
def test_shipped_model_hash_record_and_golden_output(entry):
    assert entry.path.is_file(), f"the registry lists {entry.path}, which is missing"
    assert file_sha256(entry.path) == entry.sha256
    assert model_file(entry.name) == entry.path
    model = load_generator(entry.name, device="cpu")
    assert model.config.to_record() == entry.model and model.checkpoint == entry.path
    got, want = golden_paste(model), read_image(entry.golden_path)
    worst, mean = compare(got, want)
    assert worst <= 2 and mean <= 0.1, (worst, mean)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("entry", SHIPPED, ids=lambda e: e.name)
def test_shipped_model_on_cuda_is_its_golden_output(entry):
    """On CUDA (TF32 convolutions, other kernels) a shipped model pastes its CPU golden output to the level (H200: max 1, mean 0.0)."""
    got, want = golden_paste(load_generator(entry.name, device="cuda")), read_image(entry.golden_path)
    worst, mean = compare(got, want)
    assert worst <= 2 and mean <= 0.1, (worst, mean)


# --- a tiny run, exported into a temporary zoo --------------------------------------------------------


@pytest.fixture(scope="module")
def tuples(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("zoo-data") / "t.h5"
    pastegen.make(data, pastegen.sample_image_paths(), pastegen.preset("sample", height=64, width=64), count=6, seed=0)
    return data


@pytest.fixture(scope="module")
def tiny_run(tuples, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("zoo-runs")
    result = CliRunner().invoke(main, ["train", str(tuples), "--preset", "colormap", "--alpha", "0", "--recon", "mask", "--steps", "2",
                                       "--batch", "2", "--device", "cpu", "--workers", "0", "--sample-every", "100",
                                       "--checkpoint-every", "2", "--lr-g", "0.00031", "-q", "--out", str(out)],
                                catch_exceptions=False, env={"PASTEGEN_DATA_ROOT": None})
    assert result.exit_code == 0, result.output
    (run_dir,) = out.iterdir()
    return run_dir


@pytest.fixture(scope="module")
def zoo(tiny_run, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("zoo")
    export_model(tiny_run, "my-tiny", to=root, description="a test model", figures={"real cases": {"seam jump": 1.25}, "note": "x"})
    return root


def test_export_writes_weights_card_golden_and_entry(zoo, tiny_run):
    entry = load_registry(zoo)["my-tiny"]
    assert entry.path == zoo / "weights" / "my-tiny.safetensors" and entry.sha256 == file_sha256(entry.path)
    assert entry.steps == 2 and entry.preset == "colormap" and entry.run == tiny_run.name and entry.size == entry.path.stat().st_size
    assert entry.model == json.loads((tiny_run / "options.json").read_text())["model"]
    assert entry.figures["real cases"] == {"seam jump": 1.25} and "training (last logged step)" in entry.figures
    assert "t.h5" in entry.data and "MIT" in entry.licence
    # G only, "G." keys, the model record in the metadata: loads as a bare weights file
    from safetensors import safe_open

    with safe_open(str(entry.path), framework="pt") as f:
        assert all(k.startswith("G.") for k in f.keys()) and json.loads(f.metadata()["model"]) == entry.model
    card = entry.card_path.read_text()
    for text in ("# my-tiny", "a test model", entry.sha256, entry.command, "Beyond the paper", "affine colour-map",
                 "map stride 4", "| real cases | seam jump | 1.25 |", 'load_generator("my-tiny")', "pastenet paste --model my-tiny"):
        assert text in card, text
    model = load_generator(entry.path, device="cpu")
    assert compare(golden_paste(model), read_image(entry.golden_path)) == (0, 0.0)


def test_load_by_name_through_the_environment(zoo, monkeypatch):
    monkeypatch.setenv("PASTENET_ZOO", str(zoo))
    assert is_model_name("my-tiny") and not is_model_name("../my-tiny") and not is_model_name("nope")
    model = load_generator("my-tiny", device="cpu")
    assert model.config.output == "affine" and model.config.work_side == 64
    assert model.checkpoint == zoo / "weights" / "my-tiny.safetensors"
    worst, mean = compare(golden_paste(model), read_image(get_model("my-tiny").golden_path))
    assert worst <= 2 and mean <= 0.1


def test_export_refuses_bad_and_taken_names(zoo, tiny_run, tmp_path):
    with pytest.raises(ZooError, match="already has"):
        export_model(tiny_run, "my-tiny", to=zoo)
    for bad in ("Bad Name", "-x", "UPPER", "a/b", ""):
        with pytest.raises(ZooError, match="must match"):
            export_model(tiny_run, bad, to=tmp_path)
    with pytest.raises(CheckpointError):
        export_model(tmp_path / "nothing", "x", to=tmp_path)
    assert not (tmp_path / "registry.json").exists()


def test_export_overwrite_and_no_golden(zoo, tiny_run, tmp_path):
    root = tmp_path / "z"
    shutil.copytree(zoo, root)
    entry = export_model(tiny_run, "my-tiny", to=root, overwrite=True, golden=False, licence="CC0")
    assert entry.golden is None and not (root / "golden" / "my-tiny.png").exists()
    again = load_registry(root)["my-tiny"]
    assert again.licence == "CC0" and again.description == "" and again.golden is None
    export_model(tiny_run, "second", to=root, golden=False)
    assert [e.name for e in list_models(root)] == ["my-tiny", "second"]


def test_export_is_byte_for_byte_reproducible_in_a_new_process(tiny_run, tmp_path):
    # safetensors writes its header from hash maps (another order in each process): export sorts it
    import subprocess
    import sys

    code = "import sys; from pastenet.zoo.export import export_model; print(export_model(sys.argv[1], 'x', to=sys.argv[2], golden=False).sha256)"
    shas = {subprocess.run([sys.executable, "-c", code, str(tiny_run), str(tmp_path / f"z{k}")], capture_output=True, text=True, check=True).stdout
            for k in range(3)}  # fmt: skip
    assert len(shas) == 1
    from safetensors import safe_open

    with safe_open(str(tmp_path / "z0" / "weights" / "x.safetensors"), "np") as f:  # still a valid file with its metadata
        assert f.metadata()["zoo_name"] == "x" and f.keys()


def test_damaged_and_missing_files_are_refused(zoo, tmp_path):
    root = tmp_path / "z"
    shutil.copytree(zoo, root)
    registry = json.loads((root / "registry.json").read_text())
    registry["models"]["my-tiny"]["sha256"] = "0" * 64
    (root / "registry.json").write_text(json.dumps(registry))
    with pytest.raises(ZooError, match="damaged"):
        model_file("my-tiny", root=root)
    assert model_file("my-tiny", verify=False, root=root).is_file()
    (root / "weights" / "my-tiny.safetensors").unlink()
    with pytest.raises(ZooError, match="missing"):
        model_file("my-tiny", root=root)
    registry["models"]["my-tiny"].pop("sha256")
    (root / "registry.json").write_text(json.dumps(registry))
    with pytest.raises(ZooError, match="lacks sha256"):
        load_registry(root)
    (root / "registry.json").write_text("{not json")
    with pytest.raises(ZooError, match="not a readable zoo registry"):
        load_registry(root)


def test_damaged_file_on_the_command_line(zoo, tmp_path, monkeypatch):
    root = tmp_path / "z"
    shutil.copytree(zoo, root)
    with open(root / "weights" / "my-tiny.safetensors", "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\0\0\0\0")
    monkeypatch.setenv("PASTENET_ZOO", str(root))
    assert "damaged" in _error_line(run("demo", "--model", "my-tiny", "-o", tmp_path / "d.png", "--device", "cpu"))


def test_unknown_names(monkeypatch, tmp_path):
    monkeypatch.setenv("PASTENET_ZOO", str(tmp_path))
    with pytest.raises(ZooError, match="no model named 'nope'.*available: none"):
        get_model("nope")
    with pytest.raises(CheckpointError, match="does not exist.*pastenet models"):
        load_generator("nope")
    with pytest.raises(CheckpointError, match="pastenet models"):
        load_generator(tmp_path / "runs" / "missing")
    assert "no model named" in _error_line(run("models", "nope"))
    write_image(tmp_path / "t.png", np.zeros((8, 8, 3), np.uint8))
    write_image(tmp_path / "m.png", np.full((8, 8), 255, np.uint8))
    assert "pastenet models" in _error_line(run("paste", "--model", "nope", "--target", tmp_path / "t.png", "--mask", tmp_path / "m.png",
                                                 "-o", tmp_path / "o.png"))


def test_unknown_name_lists_the_available_ones(zoo):
    with pytest.raises(ZooError, match="available: my-tiny"):
        get_model("other", root=zoo)


# --- the recorded training command ---------------------------------------------------------------------


def _replay(command: str) -> dict:
    words = shlex.split(command)
    env = {"PASTEGEN_DATA_ROOT": None}
    if "=" in words[0]:
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    assert words[:2] == ["pastenet", "train"]
    result = run("train", *words[2:], "--dry-run", env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_train_command_reproduces_a_runs_options(tiny_run):
    record = json.loads((tiny_run / "options.json").read_text())
    command = train_command(record)
    assert "--lr-g 0.00031" in command and command.endswith(" -q") and "--alpha 0 " in command
    assert _replay(command) == record
    assert api_only_options(record) == {}


def test_train_command_reproduces_stream_options():
    from pastenet.train import TrainOptions

    options = TrainOptions(stream=True, dataset="sample", data_root="/some/root", preset="colormap", resolution=64, sigma=7.5,
                           color_mix="0:1,0.25:1,1:1", geometric_mix="0:1,1:1", steps=12000, batch=8, beta1=0.9, alpha=0.0,
                           recon="mask", border_weight=2.0, prior="poisson", truth="colours", ema_kimg=10.0, lr_d=1.2345678901234e-4,
                           device="cpu", workers=0, keep=1)
    record = options.to_record()
    command = train_command(record)
    assert "--prior poisson --truth colours" in command and "--ema-kimg 10 " in command
    assert command.startswith("PASTEGEN_DATA_ROOT=/some/root pastenet train --stream --dataset sample --sigma 7.5")
    assert "--lr-d 0.00012345678901234" in command and "--border-weight 2 " in command
    again = _replay(command)
    assert again.pop("model")["resolution"] == 64
    record.pop("model")
    assert again == record
    assert api_only_options(dict(record, grid_size=4, split="val")) == {"grid_size": 4, "split": "val"}


# --- the command line ---------------------------------------------------------------------------------


def test_models_lists_and_prints_the_card(zoo, monkeypatch):
    monkeypatch.setenv("PASTENET_ZOO", str(zoo))
    result = run("models")
    assert result.exit_code == 0
    header, line = result.output.strip().splitlines()
    assert header.split()[:4] == ["name", "preset/output", "res", "steps"]
    assert line.split()[:4] == ["my-tiny", "colormap/affine", "64", "2"] and "a test model" in line
    listed = json.loads(run("models", "--json").output)
    assert listed["my-tiny"]["sha256"] == get_model("my-tiny").sha256
    assert run("models", "my-tiny").output == get_model("my-tiny").card_path.read_text()
    assert json.loads(run("models", "my-tiny", "--json").output)["my-tiny"]["steps"] == 2


def test_models_on_an_empty_zoo(tmp_path, monkeypatch):
    monkeypatch.setenv("PASTENET_ZOO", str(tmp_path))
    result = run("models")
    assert result.exit_code == 0 and "empty" in result.output and "pastenet export" in result.output
    assert json.loads(run("models", "--json").output) == {}


def test_cli_export_and_paste_by_name(tiny_run, tmp_path, monkeypatch):
    root = tmp_path / "zoo"
    figures = tmp_path / "figures.json"
    figures.write_text(json.dumps({"synthetic": {"L1": 0.05}}))
    result = run("export", tiny_run, "cli-tiny", "--to", root, "--no-golden", "--figures", figures, "--description", "from the CLI")
    assert result.exit_code == 0, result.output
    assert get_model("cli-tiny", root=root).figures["synthetic"] == {"L1": 0.05}
    assert "already has" in _error_line(run("export", tiny_run, "cli-tiny", "--to", root))
    assert "must match" in _error_line(run("export", tiny_run, "Cli Tiny", "--to", root))
    (tmp_path / "bad.json").write_text("[1, 2")
    assert "not JSON" in _error_line(run("export", tiny_run, "x", "--to", root, "--figures", tmp_path / "bad.json"))
    (tmp_path / "list.json").write_text("[1, 2]")
    assert "JSON object" in _error_line(run("export", tiny_run, "x", "--to", root, "--figures", tmp_path / "list.json"))
    assert "does not exist" in _error_line(run("export", tmp_path / "nothing", "x", "--to", root))

    monkeypatch.setenv("PASTENET_ZOO", str(root))
    img = np.zeros((64, 64, 3), np.uint8)
    img[:, 32:] = 200
    mask = np.zeros((64, 64), np.uint8)
    mask[20:40, 20:40] = 255
    write_image(tmp_path / "t.png", img)
    write_image(tmp_path / "m.png", mask)
    result = run("paste", "--model", "cli-tiny", "--target", tmp_path / "t.png", "--mask", tmp_path / "m.png", "-o", tmp_path / "o.png",
                 "--offset", "0,10", "--device", "cpu", "-q")
    assert result.exit_code == 0, result.output
    by_path = run("paste", "--model", root / "weights" / "cli-tiny.safetensors", "--target", tmp_path / "t.png", "--mask", tmp_path / "m.png",
                  "-o", tmp_path / "p.png", "--offset", "0,10", "--device", "cpu", "-q")
    assert by_path.exit_code == 0, by_path.output
    assert np.array_equal(read_image(tmp_path / "o.png"), read_image(tmp_path / "p.png"))
    result = run("demo", "--model", "cli-tiny", "-o", tmp_path / "demo.png", "--device", "cpu", "-q")
    assert result.exit_code == 0, result.output and (tmp_path / "demo.png").is_file()


def test_help_mentions_the_zoo():
    assert "pastenet models" in run("--help").output
    assert "model-zoo name" in run("paste", "--help").output and "model-zoo name" in run("demo", "--help").output
    assert "Examples" in run("export", "--help").output and "Examples" in run("models", "--help").output


def test_figures_table_flat_and_grouped():
    from pastenet.zoo.card import figures_table

    assert figures_table({}) == []
    assert figures_table({"seam jump": 1.23456, "note": "a|b"})[2:] == ["| seam jump | 1.235 |", "| note | a\\|b |"]
    assert figures_table({"real": {"L1": 2}, "n": 3})[2:] == ["| real | L1 | 2 |", "| | n | 3 |"]


def test_beyond_the_paper_names_every_option_beyond_it():
    from pastenet.config import preset
    from pastenet.train import TrainOptions
    from pastenet.zoo.card import beyond_the_paper

    assert beyond_the_paper(preset("paper-512").to_record(), TrainOptions(data="x.h5").to_record()) == []
    options = TrainOptions(stream=True, dataset="faces", preset="colormap", alpha=0.0, recon="mask", border_weight=2.0, beta1=0.9,
                           color_mix="0:1,1:1", prior="poisson", truth="colours", ema_kimg=10.0, batch=8, echo=4).to_record()
    notes = " ".join(beyond_the_paper(preset("colormap", prior="poisson").to_record(), options))
    for text in ("affine colour-map head", "Poisson prior", "--truth colours", "--alpha 0", "--recon mask", "strength mixtures", "Adam betas", "map stride 4",
                 "moving average", "data echoing (`--echo 4`"):
        assert text in notes, text
