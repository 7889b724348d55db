"""The training data of a run: the dataset, its identity (``data.json``) and the grid's inputs.

:func:`build_data` opens what the options name (a tuple file made by ``pastegen make``, or a
pastegen stream over named datasets or a folder of photos) as a :class:`TrainingData`: the
dataset for :func:`pastenet.data.make_loader`, its resolution, the fixed inputs of the sample
grids, and its identity (:func:`data_identity`), which a resume compares with the run's record.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DataError
from .distributed import World
from .options import TrainOptions

__all__ = ["TrainingData", "build_data", "data_identity", "data_description"]


@dataclass(frozen=True)
class TrainingData:
    """The data a run trains on (:func:`build_data`)."""

    source: Any  # TupleFileDataset or StreamDataset: what make_loader reads
    resolution: int  # the tuples' side in pixels
    grid_items: list[Any]  # the sample grids' fixed inputs
    identity: dict[str, Any]  # data_identity(options, source)

    def loader(self, options: TrainOptions, world: World, device: torch.device, *, start: int) -> Iterator[Any]:
        """Batches from step ``start`` on: this process's share of the global data order.

        Parameters
        ----------
        options : TrainOptions
            ``batch``, ``echo``, ``seed`` (the data order) and ``workers``.
        world : World
        device : torch.device
            Pinned memory for CUDA.
        start : int
            The first step: the loader starts at position ``start · fresh_batch · world.size``
            (before it with echoes: :mod:`pastenet.train.echo`).

        Returns
        -------
        iterator
            :func:`pastenet.data.make_loader`'s batches (``close()`` ends its workers), or with
            ``options.echo > 1`` an :class:`~pastenet.train.echo.EchoBatches` over batches of
            ``options.fresh_batch`` from the first step its echoes need.
        """
        from ..data import make_loader
        from .echo import EchoBatches, first_fresh_step

        first = first_fresh_step(start, options.echo)
        fresh = make_loader(
            self.source,
            batch=options.fresh_batch,
            seed=options.seed,
            cursor=first * options.fresh_batch * world.size,
            rank=world.rank,
            world_size=world.size,
            workers=options.workers,
            pin_memory=device.type == "cuda",
        )
        return fresh if options.echo == 1 else EchoBatches(fresh, echo=options.echo, start=start)

    def grid_batch(self) -> dict[str, torch.Tensor] | None:
        """The grid's fixed inputs as one batch (None when there are none)."""
        return torch.utils.data.default_collate(self.grid_items) if self.grid_items else None


def build_data(options: TrainOptions, world: World) -> TrainingData:
    """Open the training data the options name.

    Parameters
    ----------
    options : TrainOptions
    world : World
        A stream renders this process's share of each global batch.

    Returns
    -------
    TrainingData

    Raises
    ------
    DataError
        A missing or unusable tuple file, no usable photos, an unknown dataset.
    """
    hint = options.resolution or options.model_config().resolution
    source, resolution, grid_items = _build_source(options, hint, world)
    return TrainingData(source=source, resolution=resolution, grid_items=grid_items, identity=data_identity(options, source))


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _sources_sha256(records: Any) -> str:
    """One digest of a source list: each photo's sha256 and decoded size, in order (not the paths)."""
    rows = []
    for r in records:
        r = r.to_dict() if hasattr(r, "to_dict") else dict(r)
        rows.append([str(r.get("sha256")), int(r.get("height", 0)), int(r.get("width", 0))])
    return _digest(rows)


def _plain(value: Any) -> Any:
    """A JSON value of an HDF5 attribute (numpy scalars and arrays become Python ones)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _data_root(names: list[str] | None, data_root: str | None) -> str | None:
    """The absolute data root the named datasets are read from (None when none is needed or found)."""
    if not names or all(n == "sample" for n in names):
        return None
    from pastegen.errors import PastegenError
    from pastegen.sources import resolve_data_root

    try:
        return str(resolve_data_root(data_root))
    except PastegenError:
        return None


def data_identity(options: TrainOptions, source: Any) -> dict[str, Any]:
    """The identity of a run's training data, recorded in the run folder's ``data.json``.

    A resume refuses data of another identity
    (:func:`~pastenet.train.rundir.check_data_record`), so a tuple file regenerated at the same
    path with other settings, or a relative path resolved from another folder, is not trained on
    silently.

    Parameters
    ----------
    options : TrainOptions
    source : TupleFileDataset or StreamDataset
        The dataset the run reads (built from ``options``).

    Returns
    -------
    dict
        For a tuple file: ``kind`` ("file"), ``path`` (absolute), ``count``, ``index_offset``,
        ``seed``, ``spec_sha256`` and ``sources_sha256`` (from the file's attributes, as ``pastegen
        make`` stored them), ``sources`` (their number). For a stream: ``kind`` ("stream"),
        ``datasets`` (names, or None), ``images`` (as given), ``split``, ``data_root`` (absolute,
        None for the bundled sample photos), ``seed``, ``spec_sha256``, ``sources`` and
        ``sources_sha256`` of the scanned photos (each photo's sha256 and size, in order).
    """
    if not options.stream:
        tf = source.file
        sources = tf.sources
        return {
            "kind": "file",
            "path": os.path.abspath(str(options.data)),
            "count": int(len(tf)),
            "index_offset": int(getattr(source, "index_offset", 0) or 0),
            "seed": _plain(tf.seed),
            "spec_sha256": _digest(tf.spec),
            "sources": len(sources),
            "sources_sha256": _sources_sha256(sources),
        }
    stream = source.stream
    names = _dataset_names(options.dataset) if options.dataset is not None else None
    return {
        "kind": "stream",
        "datasets": names,
        "images": options.images,
        "split": options.split,
        "data_root": _data_root(names, options.data_root),
        "seed": int(stream.seed),
        "spec_sha256": _digest(stream.spec.to_dict()),
        "sources": len(stream.sources),
        "sources_sha256": _sources_sha256(stream.sources),
    }


def data_description(options: TrainOptions) -> str:
    """What a run trains on, for its folder's name: the tuple file's stem, or ``stream-DATASETS``."""
    if options.stream:
        return f"stream-{(options.dataset or Path(options.images or 'images').name).replace(',', '-')}"
    return Path(options.data or "data").stem


def _build_source(options: TrainOptions, resolution_hint: int, world: World):
    """(dataset object for make_loader, resolution, fixed grid items)."""
    from .. import data as D

    n_grid = options.grid_size
    if not options.stream:
        assert options.data is not None  # TrainOptions checks it
        dataset = D.TupleFileDataset(options.data)
        n = len(dataset)
        items = [dataset[i] for i in range(min(n_grid, n))]
        return dataset, int(dataset.resolution), items
    import pastegen

    spec_name = options.spec_preset or _stream_spec_name(options)
    changes: dict[str, Any] = {"height": resolution_hint, "width": resolution_hint}
    if options.sigma is not None:
        changes["sigma"] = float(options.sigma)
    try:
        if options.color_mix or options.geometric_mix:
            from pastegen.components.strength import strength_spec

            changes["strength"] = strength_spec(options.color_mix, options.geometric_mix)
        if options.tone:
            from pastegen.components.tone import ToneSpec

            changes["tone"] = ToneSpec(probability=float(options.tone))
        spec = pastegen.preset(spec_name, **changes)
        if options.dataset is not None:  # "faces,faces-wild": the photos of every named dataset
            paths = []
            for name in _dataset_names(options.dataset):
                paths += pastegen.dataset_paths(name, split=options.split, data_root=options.data_root)
        else:
            assert options.images is not None  # TrainOptions checks it
            paths = pastegen.find_images(options.images)
    except pastegen.PastegenError as e:
        raise DataError(str(e)) from None
    colours = options.truth == "colours"
    stream = D.make_stream(
        paths, spec=spec, seed=options.data_seed, start=0, batch=options.batch, rank=world.rank, world_size=world.size, geometric_source=colours
    )
    if not stream.sources:
        raise DataError("no usable photos to stream from")
    grid = D.make_stream(list(stream.sources), spec=spec, seed=options.data_seed, start=0, stop=n_grid, batch=1, geometric_source=colours)
    items = list(D.StreamDataset(grid, prior=options.prior))
    return D.StreamDataset(stream, prior=options.prior), resolution_hint, items


def _dataset_names(text: str) -> list[str]:
    return [n.strip() for n in str(text).split(",") if n.strip()]


def _stream_spec_name(options: TrainOptions) -> str:
    """The spec preset of a stream: that of its (first) dataset, else ``photos``."""
    if options.dataset is None:
        return "photos"
    import pastegen
    from pastegen.sources import DATASET_PRESETS

    first = _dataset_names(options.dataset)[0]
    name = DATASET_PRESETS.get(first, first)
    return name if name in pastegen.PRESETS else "photos"
