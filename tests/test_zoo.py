"""The model zoo: every shipped model loads by name, matches its hash and its golden output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import pastegen
from pastenet.cli import main
from pastenet.errors import CheckpointError, ZooError
from pastenet.paste import load_generator, read_image
from pastenet.zoo import get_model, list_models, load_registry, model_file
from pastenet.zoo.export import export_model, train_command
from pastenet.zoo.golden import compare, golden_paste
from pastenet.zoo.registry import file_sha256, zoo_dir

pytestmark = pytest.mark.usefixtures("torch_one_thread")

SHIPPED = list_models(zoo_dir())


def test_the_package_ships_a_faces_and_a_scenes_model():
    names = [e.name for e in SHIPPED]
    assert any(n.startswith("faces") for n in names) and any(n.startswith("scenes") for n in names), names


@pytest.mark.parametrize("entry", SHIPPED, ids=lambda e: e.name)
def test_shipped_model_hash_record_and_golden_output(entry):
    assert entry.path.is_file(), f"the registry lists {entry.path}, which is missing"
    assert file_sha256(entry.path) == entry.sha256
    assert entry.card_path.is_file() and entry.command.startswith("PASTEGEN_DATA_ROOT=")
    model = load_generator(entry.name, device="cpu")
    assert model.config.to_record() == {**model.config.to_record(), **entry.model}
    got, want = golden_paste(model), read_image(entry.golden_path)
    worst, mean = compare(got, want)
    assert worst <= 2 and mean <= 0.1, (worst, mean)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    from pastenet.train import TrainOptions, train

    tmp = tmp_path_factory.mktemp("zoo-run")
    data = tmp / "t.h5"
    pastegen.make(data, pastegen.sample_image_paths(), pastegen.preset("sample", height=64, width=64), count=6, seed=0)
    options = TrainOptions(data=str(data), preset="colormap", alpha=0.0, steps=2, batch=2, device="cpu", workers=0, out=str(tmp / "runs"),
                           sample_every=100, checkpoint_every=2, progress=False, recon="mask")
    return train(options).run_dir


def test_export_round_trip(tiny_run, tmp_path, monkeypatch):
    entry = export_model(tiny_run, "my-tiny", to=tmp_path, description="test", figures={"seam jump": 1.0})
    assert load_registry(tmp_path)["my-tiny"].sha256 == file_sha256(entry.path)
    with pytest.raises(ZooError, match="already has"):
        export_model(tiny_run, "my-tiny", to=tmp_path)
    with pytest.raises(ZooError, match="must match"):
        export_model(tiny_run, "Bad Name", to=tmp_path)
    monkeypatch.setenv("PASTENET_ZOO", str(tmp_path))
    model = load_generator("my-tiny", device="cpu")
    assert model.config.output == "affine" and model.config.work_side == 64
    worst, _ = compare(golden_paste(model), read_image(entry.golden_path))
    assert worst == 0
    res = CliRunner().invoke(main, ["models"])
    assert res.exit_code == 0 and "my-tiny" in res.output
    assert "my-tiny" in CliRunner().invoke(main, ["models", "my-tiny"]).output
    # a damaged file is refused
    reg = json.loads((tmp_path / "registry.json").read_text())
    reg["models"]["my-tiny"]["sha256"] = "0" * 64
    (tmp_path / "registry.json").write_text(json.dumps(reg))
    with pytest.raises(ZooError, match="damaged"):
        model_file("my-tiny")


def test_unknown_names(monkeypatch, tmp_path):
    monkeypatch.setenv("PASTENET_ZOO", str(tmp_path))
    with pytest.raises(ZooError, match="no model named"):
        get_model("nope")
    with pytest.raises(CheckpointError, match="pastenet models"):
        load_generator("nope")
    res = CliRunner().invoke(main, ["models", "nope"])
    assert res.exit_code != 0 and res.output.startswith("Error: ") and len(res.output.strip().splitlines()) == 1


def test_train_command_reproduces_the_options(tiny_run):
    record = json.loads((tiny_run / "options.json").read_text())
    command = train_command(record)
    args = command.split()[2:] + ["--dry-run", "--device", "cpu"]
    res = CliRunner().invoke(main, ["train", *args])
    assert res.exit_code == 0, res.output
    again = json.loads(res.output)
    for key in ("preset", "steps", "batch", "alpha", "recon", "beta1", "model"):
        assert again[key] == record[key], key


def test_cli_export_and_paste_by_name(tiny_run, tmp_path, monkeypatch):
    zoo = tmp_path / "zoo"
    res = CliRunner().invoke(main, ["export", str(tiny_run), "cli-tiny", "--to", str(zoo), "--no-golden"])
    assert res.exit_code == 0, res.output
    monkeypatch.setenv("PASTENET_ZOO", str(zoo))
    img = np.zeros((64, 64, 3), np.uint8)
    img[:, 32:] = 200
    mask = np.zeros((64, 64), np.uint8)
    mask[20:40, 20:40] = 255
    from pastenet.paste import write_image

    write_image(tmp_path / "t.png", img)
    write_image(tmp_path / "m.png", mask)
    res = CliRunner().invoke(main, ["paste", "--model", "cli-tiny", "--target", str(tmp_path / "t.png"), "--mask", str(tmp_path / "m.png"),
                                    "-o", str(tmp_path / "o.png"), "--offset", "0,10", "-q"])
    assert res.exit_code == 0, res.output
    assert read_image(tmp_path / "o.png").shape == (64, 64, 3)
