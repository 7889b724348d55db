"""``pastenet export RUN NAME``: a run's generator into a zoo folder (weights, card, golden, registry).

The files are written in this order, each atomically (a temporary file, fsync, rename):
``weights/NAME.safetensors`` (G only, "G." keys, the model record in the metadata, as in a
checkpoint), ``golden/NAME.png``, ``cards/NAME.md`` and last the entry in ``registry.json``: a
crash leaves the registry as it was.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pastegen.atomic import atomic_path

from ..errors import CheckpointError, ZooError
from .card import render_card
from .command import api_only_options, train_command
from .registry import (
    CARDS_DIR,
    GOLDEN_DIR,
    REGISTRY_FILE,
    REGISTRY_FORMAT,
    REGISTRY_VERSION,
    WEIGHTS_DIR,
    ZooEntry,
    check_name,
    file_sha256,
    load_registry,
    zoo_dir,
)

__all__ = ["export_model", "train_command", "describe_data", "default_licence", "DATA_LICENCES", "WEIGHTS_LICENCE"]

#: Licence of exported weights unless ``--licence`` says otherwise: the project's.
WEIGHTS_LICENCE = "MIT (this project)"
#: Licence summaries of the named datasets (see ``../shared/data/README.md``).
DATA_LICENCES = {
    "faces": "CC BY 4.0 (Face Research Lab London and Canada sets), CC0 and public domain (US Congress portraits)",
    "faces-wild": "mixed repository licences (MIT/Apache/BSD, non-commercial, GPL-3.0): research use only",
    "scenes": "CamVid: research and non-commercial use only",
    "cityscapes": "Cityscapes: non-commercial use, no redistribution",
    "sample": "photos shipped in the scikit-image and matplotlib wheels",
    "photos": "Kodak (unrestricted) and Pixabay licence",
    "photos-extra": "as stated per file in faces-wild/MANIFEST.tsv (Urban100, Sun-Hays80 and other research sets): research use only",
}


def describe_data(options: Mapping[str, Any]) -> str:
    """What a run was trained on, in one line, from its recorded options."""
    res = (options.get("model") or {}).get("resolution") or options.get("resolution")
    size = f", {res}x{res}" if res else ""
    if not options.get("stream"):
        return f"tuple file {Path(str(options.get('data'))).name}{size}"
    what = f"datasets {options['dataset']} ({options.get('split', 'train')} split)" if options.get("dataset") else f"photos {options.get('images')}"
    parts = [f"pastegen stream of {what}{size}"]
    if options.get("sigma") is not None:
        parts.append(f"sigma {options['sigma']:g}")
    if options.get("color_mix"):
        parts.append(f"colour mix {options['color_mix']}")
    if options.get("geometric_mix"):
        parts.append(f"geometric mix {options['geometric_mix']}")
    parts.append(f"data seed {options.get('data_seed', 0)}")
    return ", ".join(parts)


def default_licence(options: Mapping[str, Any]) -> str:
    """The weights' licence with the training data's licences summarised (named datasets only)."""
    names = [n.strip() for n in str(options.get("dataset") or "").split(",") if n.strip()] if options.get("stream") else []
    if names:
        data = "; ".join(f"{n}: {DATA_LICENCES.get(n, 'see the dataset')}" for n in names)
    else:
        data = "the photos of the tuple file or image folder: see their sources"
    return f"weights: {WEIGHTS_LICENCE}; training data: {data}. Check the data's terms before using the weights."


def _training_figures(run_dir: Path, step: int | None) -> dict[str, Any]:
    """The last ``stats.jsonl`` line at or before ``step``: the L1 and speed the run reported."""
    path = run_dir / "stats.jsonl"
    last = None
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and (step is None or int(row.get("step", 0)) <= step):
                last = row
    except OSError:
        return {}
    if not last:
        return {}
    keep = {"step": "step", "l1": "L1 (training batch)", "it_s": "it/s", "samples_s": "samples/s"}
    out = {label: last[k] for k, label in keep.items() if isinstance(last.get(k), (int, float))}
    return {"training (last logged step)": out} if out else {}


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
        os.chmod(tmp, 0o644)  # package data: readable by everyone, whatever the umask


def _weights_blob(run: str | os.PathLike, name: str) -> tuple[bytes, dict[str, Any], Path, int | None, int, Path]:
    """``(safetensors bytes, model record, checkpoint dir, step, number of weights, run folder)`` of G."""
    from safetensors.torch import save

    from .._version import __version__
    from ..checkpoint import FORMAT_NAME, FORMAT_VERSION, load_generator_weights, resolve_weights

    ref = resolve_weights(run, zoo=False)
    if ref.checkpoint is None:
        raise CheckpointError(
            f"{ref.weights} is a bare weights file: export needs a run's checkpoint (a run folder or its checkpoints/step-N folder)"
        )
    state, record = load_generator_weights(ref)  # sha256-checked: it sits in a checkpoint
    ck, step = ref.checkpoint, ref.step
    if ref.run_dir is None:
        raise ZooError(f"{ck} is not inside a run folder's checkpoints/: export needs a run folder made by `pastenet train`")
    tensors = {f"G.{k}": v.detach().to("cpu").contiguous() for k, v in state.items()}
    metadata = {
        "format": "pt",
        "checkpoint_format": FORMAT_NAME,
        "checkpoint_format_version": str(FORMAT_VERSION),
        "step": str(step),
        "modules": json.dumps(["G"]),
        "model": json.dumps(record, sort_keys=True),
        "pastenet_version": __version__,
        "zoo_name": name,
    }
    return _canonical(save(tensors, metadata=metadata)), record, ck, step, sum(int(t.numel()) for t in state.values()), ref.run_dir


def _canonical(blob: bytes) -> bytes:
    """``blob`` (a safetensors file) with its JSON header's keys sorted, so that exporting the same
    checkpoint twice gives the same bytes and sha256: safetensors writes the header from hash maps,
    whose order changes from one process to the next. The data section and its offsets (relative
    to the end of the header) are unchanged; the header is padded with spaces to a multiple of 8
    bytes, as safetensors pads it."""
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    return len(text).to_bytes(8, "little") + text + blob[8 + n :]


def export_model(
    run: str | os.PathLike,
    name: str,
    *,
    to: str | os.PathLike | None = None,
    description: str = "",
    data: str | None = None,
    licence: str | None = None,
    figures: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    golden: bool = True,
) -> ZooEntry:
    """Write a run's generator into a zoo folder and register it.

    Parameters
    ----------
    run : path
        A run folder (its latest checkpoint), one of its checkpoint folders or their
        ``weights.safetensors`` (:func:`pastenet.checkpoint.resolve_weights`, without zoo
        names); the run's ``options.json`` gives the training command.
    name : str
        The model's name (``[a-z0-9][a-z0-9._-]*``).
    to : path, optional
        The zoo folder; default :func:`~pastenet.zoo.registry.zoo_dir` (the package's own).
    description : str
        One line for the registry and the card.
    data : str, optional
        What it was trained on; default :func:`describe_data` of the run's options.
    licence : str, optional
        Of the weights and the data; default :func:`default_licence`.
    figures : mapping, optional
        Measured figures (free-form, e.g. ``{"real cases": {...}}``); the run's last logged
        training figures are added.
    overwrite : bool
        Replace an existing entry of that name.
    golden : bool
        Also write the golden output (:mod:`pastenet.zoo.golden`).

    Returns
    -------
    ZooEntry

    Raises
    ------
    ZooError
        A bad or taken name, a run without ``options.json``, figures that are not a JSON object.
    CheckpointError
        No checkpoint there (:class:`~pastenet.errors.CheckpointNotFoundError`), a damaged one,
        or a bare weights file (no checkpoint, so no run).
    """
    from .._version import __version__

    check_name(name)
    root = Path(to) if to is not None else zoo_dir()
    registry = load_registry(root)
    if name in registry and not overwrite:
        raise ZooError(f"the zoo in {root} already has {name!r}; pass --overwrite to replace it")
    if figures is not None and not isinstance(figures, Mapping):
        raise ZooError(f"figures must be a JSON object (e.g. {{\"real cases\": {{...}}}}), got {type(figures).__name__}")
    blob, record, ck, step, parameters, run_dir = _weights_blob(run, name)
    options_path = run_dir / "options.json"
    try:
        options = json.loads(options_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ZooError(f"{options_path} is missing or unreadable: export needs a run folder made by `pastenet train`") from None
    replay = dict(options, steps=step) if step else dict(options)  # the checkpoint's step (resume is exact)

    weights = root / WEIGHTS_DIR / f"{name}.safetensors"
    _write_atomic(weights, blob)
    entry = ZooEntry(
        name=name,
        file=weights.name,
        sha256=file_sha256(weights),
        model=dict(record),
        command=train_command(replay, machine=False),
        data=data if data is not None else describe_data(options),
        licence=licence if licence else default_licence(options),
        steps=step,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        description=description,
        figures={**_training_figures(run_dir, step), **dict(figures or {})},
        card=f"{name}.md",
        preset=options.get("preset"),
        golden=f"{name}.png" if golden else None,
        size=weights.stat().st_size,
        run=run_dir.name,
        pastenet_version=__version__,
        root=root,
    )
    golden_path = root / GOLDEN_DIR / f"{name}.png"
    if golden:
        from ..imageio import write_image
        from ..loading import load_generator
        from .golden import golden_paste

        golden_path.parent.mkdir(parents=True, exist_ok=True)
        write_image(golden_path, golden_paste(load_generator(weights, device="cpu")))
    elif golden_path.exists():  # a stale golden output of the entry being replaced
        golden_path.unlink()
    card = render_card(entry, options=options, api_only=api_only_options(options), parameters=parameters)
    _write_atomic(root / CARDS_DIR / entry.card, card.encode("utf-8"))
    models = {n: e.to_record() for n, e in registry.items()}
    models[name] = entry.to_record()
    text = json.dumps({"format": REGISTRY_FORMAT, "version": REGISTRY_VERSION, "models": models}, indent=1, sort_keys=True)
    _write_atomic(root / REGISTRY_FILE, (text + "\n").encode("utf-8"))
    return entry
