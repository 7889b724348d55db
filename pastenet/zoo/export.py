"""``pastenet export RUN NAME``: a run's generator into a zoo folder (weights, card, registry, golden)."""

from __future__ import annotations

import datetime as _dt
import json
import os
import shlex
import tempfile
from pathlib import Path
from typing import Any, Mapping

from ..errors import ZooError
from .registry import NAME_PATTERN, REGISTRY_FILE, ZooEntry, file_sha256, load_registry, zoo_dir

__all__ = ["export_model", "train_command"]

#: TrainOptions fields -> ``pastenet train`` flags (booleans are flags; ``data`` is the argument).
_FLAGS = {
    "stream": "--stream", "dataset": "--dataset", "images": "--images", "sigma": "--sigma", "data_seed": "--data-seed",
    "color_mix": "--color-mix", "geometric_mix": "--geometric-mix", "preset": "--preset", "resolution": "--resolution",
    "steps": "--steps", "batch": "--batch", "lr_g": "--lr-g", "lr_d": "--lr-d", "beta1": "--beta1", "beta2": "--beta2",
    "alpha": "--alpha", "gp_lambda": "--gp-lambda", "drift_gamma": "--gamma", "recon": "--recon",
    "border_weight": "--border-weight", "border_px": "--border-px", "seed": "--seed",
}


def train_command(options: Mapping[str, Any]) -> str:
    """The ``pastenet train`` command line that gives these recorded options (defaults left out).

    The data root (``PASTEGEN_DATA_ROOT``) is written as an environment variable when the run
    streamed a named dataset.
    """
    from ..train import TrainOptions

    defaults = TrainOptions(data="-")
    words = ["pastenet", "train"]
    if options.get("data") and not options.get("stream"):
        words.append(str(options["data"]))
    for key, flag in _FLAGS.items():
        value = options.get(key)
        if value is None or value == getattr(defaults, key):
            continue
        words += [flag] if value is True else [] if value is False else [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    prefix = "PASTEGEN_DATA_ROOT=../shared/data " if options.get("stream") and options.get("dataset") else ""
    return prefix + " ".join(shlex.quote(w) for w in words)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _card(entry: ZooEntry) -> str:
    m = entry.model
    beyond = []
    if m.get("output") == "affine":
        beyond.append("the affine colour-map head (G predicts a 3x3 colour matrix and a bias per pixel, applied to the full-resolution source)")
    if int(m.get("map_stride", 1)) > 1:
        beyond.append(f"G runs at 1/{m['map_stride']} of the resolution")
    if "--alpha 0" in entry.command:
        beyond.append("no adversarial term (reconstruction loss only)")
    if "--color-mix" in entry.command:
        beyond.append("per-tuple colour/geometric strength mixtures")
    if "--recon mask" in entry.command:
        beyond.append("L1 per masked pixel with a weighted border band")
    lines = [f"# {entry.name}", "", entry.description or "A copy-paste generator.", "",
             "| | |", "|---|---|",
             f"| architecture | G widths {'-'.join(str(c) for c in m.get('channels', []))}, dilations {m.get('dilations')}, output `{m.get('output', 'residual')}`, map stride {m.get('map_stride', 1)}, noise {m.get('noise')} |",
             f"| trained at | {m.get('resolution')}x{m.get('resolution')}, photos' shorter side {m.get('work_side')} px |",
             f"| steps | {entry.steps} |", f"| data | {entry.data} |", f"| licence | {entry.licence} |",
             f"| weights | `weights/{entry.file}`, sha256 `{entry.sha256}` |", f"| created | {entry.created} |", ""]
    if beyond:
        lines += ["Beyond the paper: " + "; ".join(beyond) + ". At paste time the Poisson seam and the scale-aware mode "
                  "are on by default for colour-map models (`--seam`, `--scale`).", ""]
    lines += ["Trained with:", "", "```bash", entry.command, "```", ""]
    if entry.figures:
        lines += ["Measured (`benchmarks/quality.py`; see `benchmarks/README.md`):", "", "| figure | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in entry.figures.items()]
        lines += [""]
    lines += ["Use:", "", "```bash", f"pastenet paste --model {entry.name} --target t.png --source s.png --mask m.png -o out.png", "```", "",
              "```python", "from pastenet.paste import load_generator", f'model = load_generator("{entry.name}")', "```", ""]
    return "\n".join(lines)


def export_model(
    run: str | os.PathLike,
    name: str,
    *,
    to: str | os.PathLike | None = None,
    description: str = "",
    data: str | None = None,
    licence: str = "",
    figures: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    golden: bool = True,
) -> ZooEntry:
    """Write a run's generator into a zoo folder and register it.

    Parameters
    ----------
    run : path
        A run folder (its latest checkpoint) or a checkpoint folder.
    name : str
        The model's name (``[a-z0-9][a-z0-9._-]*``).
    to : path, optional
        The zoo folder; default :func:`~pastenet.zoo.registry.zoo_dir` (the package's).
    description, data, licence : str
        For the registry and the card; ``data`` defaults to the run's dataset or file.
    figures : mapping, optional
        Measured figures, shown in the card.
    overwrite : bool
        Replace an existing entry of that name.
    golden : bool
        Also write the golden output (:mod:`pastenet.zoo.golden`).

    Returns
    -------
    ZooEntry
    """
    import torch
    from safetensors.torch import save

    from ..checkpoint import FORMAT_NAME, FORMAT_VERSION, load_generator_weights, resolve_checkpoint

    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ZooError(f"model name {name!r} must match [a-z0-9][a-z0-9._-]*")
    root = Path(to) if to is not None else zoo_dir()
    registry = load_registry(root)
    if name in registry and not overwrite:
        raise ZooError(f"the zoo in {root} already has {name!r}; pass --overwrite to replace it")
    try:
        ck = resolve_checkpoint(run)
    except Exception as e:  # CheckpointError with its own message
        raise ZooError(str(e)) from None
    state, record = load_generator_weights(ck)
    options_path = ck.parent.parent / "options.json"
    options = json.loads(options_path.read_text()) if options_path.is_file() else {}
    step = json.loads((ck / "meta.json").read_text()).get("step") if (ck / "meta.json").is_file() else None
    tensors = {f"G.{k}": v.detach().to(torch.float32).contiguous() for k, v in state.items()}
    blob = save(tensors, metadata={
        "checkpoint_format": FORMAT_NAME, "checkpoint_format_version": str(FORMAT_VERSION),
        "model": json.dumps(record, sort_keys=True), "zoo_name": name,
    })
    weights = root / "weights" / f"{name}.safetensors"
    _write_atomic(weights, blob)
    entry = ZooEntry(
        name=name, file=weights.name, sha256=file_sha256(weights), model=dict(record),
        command=train_command(options) if options else "", steps=step,
        data=data if data is not None else str(options.get("dataset") or options.get("images") or options.get("data") or ""),
        licence=licence, created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        description=description, figures=dict(figures or {}), card=f"{name}.md", root=root,
    )
    _write_atomic(entry.card_path, _card(entry).encode())
    if golden:
        from .golden import golden_paste
        from ..paste import load_generator, write_image

        entry.golden_path.parent.mkdir(parents=True, exist_ok=True)
        write_image(entry.golden_path, golden_paste(load_generator(weights, device="cpu")))
    models = {n: e.to_record() for n, e in registry.items()}
    models[name] = entry.to_record()
    text = json.dumps({"format": "pastenet-zoo", "version": 1, "models": dict(sorted(models.items()))}, indent=1, sort_keys=True)
    _write_atomic(root / REGISTRY_FILE, (text + "\n").encode())
    return entry
