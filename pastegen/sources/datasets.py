"""Named datasets under a data root, and the sample photos bundled inside installed wheels.

:func:`dataset_paths` resolves the named datasets in :data:`DATASET_NAMES` under a data root;
:func:`sample_image_paths` gives the photographs bundled inside the installed scikit-image,
scikit-learn and matplotlib wheels.

Expected layouts under the data root (``--data-root`` or ``$PASTEGEN_DATA_ROOT``):

==============  ===============================================================================
dataset         layout
==============  ===============================================================================
``faces``       ``<root>/faces/<split>/**/<image>`` (e.g. aligned FFHQ-style faces); or a flat
                ``<root>/faces/**/<image>`` with no ``train``/``val``/``test`` subfolder at all,
                which serves splits ``train`` and ``all`` only
``cityscapes``  ``<root>/cityscapes/leftImg8bit/<split>/<city>/*_leftImg8bit.png``
``scenes``      ``<root>/scenes/<split>/**/<image>`` (generic street scenes, e.g. CamVid frames)
``faces-wild``  ``<root>/faces-wild/<split>/**/<image>`` (FFHQ-aligned faces in the wild; the
                ``faces`` spec preset applies)
``photos``      ``<root>/photos/**/<image>``: general photos (landscapes, animals, objects), a
``photos-extra`` flat folder each (no held-out split: ``train`` and ``all`` only); the ``photos``
                spec preset applies
``sample``      no data root needed: :func:`sample_image_paths`
==============  ===============================================================================
"""

from __future__ import annotations

import glob
import importlib.util
import os
from pathlib import Path

from ..errors import DatasetNotFoundError, SourceError
from .discover import is_candidate, walk_images

__all__ = [
    "DATA_ROOT_ENV",
    "DATASET_NAMES",
    "DATASET_PRESETS",
    "SPLITS",
    "resolve_data_root",
    "dataset_paths",
    "sample_image_paths",
]

#: Environment variable naming the data root of the named datasets.
DATA_ROOT_ENV = "PASTEGEN_DATA_ROOT"

#: Named datasets that :func:`dataset_paths` knows.
DATASET_NAMES: tuple[str, ...] = ("faces", "cityscapes", "scenes", "sample", "faces-wild", "photos", "photos-extra")

#: The spec preset of each named dataset whose name is not a preset itself.
DATASET_PRESETS = {"faces-wild": "faces", "photos-extra": "photos"}

#: Split folder names; ``"all"`` is also accepted by :func:`dataset_paths`.
SPLITS: tuple[str, ...] = ("train", "val", "test")


def resolve_data_root(data_root: str | os.PathLike[str] | None) -> Path:
    """The data root of the named datasets: the argument, else ``$PASTEGEN_DATA_ROOT``.

    Parameters
    ----------
    data_root : str, os.PathLike or None
        An explicit data root; ``None`` (or an empty string) falls back to the environment
        variable :data:`DATA_ROOT_ENV`.

    Returns
    -------
    pathlib.Path
        The absolute data root, an existing folder.

    Raises
    ------
    DatasetNotFoundError
        Neither is given, or the folder does not exist.
    """
    if data_root is not None and os.fspath(data_root) != "":
        root, origin = os.fspath(data_root), "--data-root"
    elif os.environ.get(DATA_ROOT_ENV):
        root, origin = os.environ[DATA_ROOT_ENV], DATA_ROOT_ENV
    else:
        raise DatasetNotFoundError(
            f"no data root given: pass --data-root or set {DATA_ROOT_ENV} to the folder that "
            "holds the datasets"
        )
    path = Path(root).expanduser().absolute()
    if not path.is_dir():
        raise DatasetNotFoundError(
            f"data root {path} (from {origin}) does not exist or is not a folder; pass "
            f"--data-root or set {DATA_ROOT_ENV} to the folder that holds the datasets"
        )
    return path


def _check_split(split: str) -> None:
    if split not in SPLITS + ("all",):
        raise SourceError(f"unknown split {split!r}; choose one of {', '.join(SPLITS + ('all',))}")


def _faces_paths(root: Path, split: str) -> list[str]:
    base = root / "faces"
    hint = "or pass --data-root"
    if not base.is_dir():
        raise DatasetNotFoundError(
            f"dataset 'faces' not found: looked for {base}/<split>/ or a flat {base}/ of images; "
            f"put aligned face photos there (e.g. FFHQ), {hint}"
        )
    present = [s for s in SPLITS if (base / s).is_dir()]
    if present:
        wanted = present if split == "all" else [split]
        return _images_in_splits("faces", base, wanted, "that split's face photos", hint)
    if split in ("val", "test"):
        raise DatasetNotFoundError(
            f"dataset 'faces' has no {split!r} split: {base} is a flat folder without "
            f"train/val/test subfolders; put held-out faces in {base / split}/ and training faces "
            f"in {base / 'train'}/, or use split 'train' or 'all'"
        )
    found = walk_images(str(base))
    if not found:
        raise DatasetNotFoundError(
            f"dataset 'faces' not found: looked for images in {base}/ (recursively); put aligned "
            f"face photos there (e.g. FFHQ), {hint}"
        )
    return sorted(found)


def _images_in_splits(dataset: str, base: Path, splits: list[str], what: str, hint: str) -> list[str]:
    """Images found recursively in ``base/<split>/`` for each split; a split with none is an error."""
    paths: list[str] = []
    for name in splits:
        folder = base / name
        found = walk_images(str(folder)) if folder.is_dir() else []
        if not found:
            raise DatasetNotFoundError(
                f"dataset {dataset!r} split {name!r} not found: looked for images in {folder}/ "
                f"(recursively); put {what} there, {hint}"
            )
        paths.extend(found)
    return sorted(set(paths))


def _cityscapes_paths(root: Path, split: str) -> list[str]:
    base = root / "cityscapes"
    images = base / "leftImg8bit"
    wanted = [s for s in SPLITS if (images / s).is_dir()] if split == "all" else [split]
    shown = "<split>" if split == "all" else split
    message = (
        f"dataset 'cityscapes' not found: looked for {images}/{shown}/<city>/*_leftImg8bit.png; "
        f"download Cityscapes leftImg8bit (leftImg8bit_trainvaltest.zip) and place it under "
        f"{base}, or pass --data-root"
    )
    if not wanted:
        raise DatasetNotFoundError(message)
    paths: list[str] = []
    for name in wanted:
        pattern = os.path.join(glob.escape(str(images / name)), "*", "*_leftImg8bit.png")
        found = [os.path.abspath(p) for p in glob.glob(pattern) if is_candidate(p)]
        if not found:
            raise DatasetNotFoundError(message.replace(f"/{shown}/", f"/{name}/"))
        paths.extend(found)
    return sorted(set(paths))


def _scenes_paths(root: Path, split: str) -> list[str]:
    base = root / "scenes"
    wanted = [s for s in SPLITS if (base / s).is_dir()] if split == "all" else [split]
    shown = "<split>" if split == "all" else split
    if not wanted:
        raise DatasetNotFoundError(
            f"dataset 'scenes' not found: looked for images in {base}/{shown}/ (recursively); put "
            f"street-scene photos (e.g. CamVid frames) in {base}/<split>/, or pass --data-root"
        )
    return _images_in_splits("scenes", base, wanted, "street-scene photos (e.g. CamVid frames)", "or pass --data-root")


def dataset_paths(
    name: str, *, data_root: str | os.PathLike[str] | None = None, split: str = "train"
) -> list[str]:
    """The image paths of a named dataset under the data root.

    ==============  ===========================================================================
    dataset         files used for split ``s``
    ==============  ===========================================================================
    ``faces``       ``<root>/faces/<s>/**/<image>`` when ``<root>/faces`` has at least one of
                    the ``train``/``val``/``test`` subfolders (images directly in
                    ``<root>/faces`` are then ignored). When it has none (a flat folder of
                    aligned faces, possibly in other subfolders), every image under
                    ``<root>/faces`` serves splits ``train`` and ``all``, and asking for
                    ``val`` or ``test`` is an error: a flat folder has no held-out images.
    ``cityscapes``  ``<root>/cityscapes/leftImg8bit/<s>/<city>/*_leftImg8bit.png``
    ``scenes``      ``<root>/scenes/<s>/**/<image>``
    ``faces-wild``  ``<root>/faces-wild/<s>/**/<image>``
    ``photos``,     every image under ``<root>/<name>/`` (flat folders of general photos) for
    ``photos-extra`` splits ``train`` and ``all``; ``val`` and ``test`` are an error: they have no
                    held-out images
    ``sample``      :func:`sample_image_paths`; the data root and split are ignored
    ==============  ===========================================================================

    ``<image>`` is any file with an extension in :data:`IMAGE_EXTENSIONS`; hidden files and
    folders are skipped. Split ``"all"`` is the union of every split folder that exists.

    Parameters
    ----------
    name : str
        One of :data:`DATASET_NAMES`.
    data_root : str, os.PathLike or None, optional
        The data root; see :func:`resolve_data_root`.
    split : {"train", "val", "test", "all"}, optional
        Which split. Default ``"train"``.

    Returns
    -------
    list of str
        Absolute paths, sorted by their string value.

    Raises
    ------
    SourceError
        Unknown dataset name or split.
    DatasetNotFoundError
        No data root, or the dataset or split is missing or empty; the one-line message says which
        path was looked at and what to put there.
    """
    if name not in DATASET_NAMES:
        raise SourceError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")
    _check_split(split)
    if name == "sample":
        return sample_image_paths()
    root = resolve_data_root(data_root)
    if name == "faces":
        return _faces_paths(root, split)
    if name == "cityscapes":
        return _cityscapes_paths(root, split)
    if name == "faces-wild":
        return _split_folder_paths(root, "faces-wild", split, "FFHQ-aligned face photos")
    if name in ("photos", "photos-extra"):
        return _flat_folder_paths(root, name, split, "general photos")
    return _scenes_paths(root, split)


def _flat_folder_paths(root: Path, dataset: str, split: str, what: str) -> list[str]:
    """Every image under ``<root>/<dataset>/``: a flat folder serves splits ``train`` and ``all``."""
    base = root / dataset
    if split in ("val", "test"):
        raise DatasetNotFoundError(f"dataset {dataset!r} has no {split!r} split: it is one flat folder of {what} for training (split 'train' or 'all')")
    found = walk_images(str(base)) if base.is_dir() else []
    if not found:
        raise DatasetNotFoundError(f"dataset {dataset!r} not found: looked for images in {base}/ (recursively); put {what} there, or pass --data-root")
    return sorted(found)


def _split_folder_paths(root: Path, dataset: str, split: str, what: str) -> list[str]:
    """``<root>/<dataset>/<split>/**``: the layout of datasets that always have split folders."""
    base = root / dataset
    if not base.is_dir():
        raise DatasetNotFoundError(f"dataset {dataset!r} not found: looked for {base}/<split>/; put {what} there, or pass --data-root")
    wanted = [s for s in SPLITS if (base / s).is_dir()] if split == "all" else [split]
    if not wanted:
        raise DatasetNotFoundError(f"dataset {dataset!r} has no split folder in {base}/; put {what} in {base / 'train'}/")
    return _images_in_splits(dataset, base, wanted, what, "or pass --data-root")


# Colour photographs of at least 256x256 shipped inside the wheels (checked by the tests). Other
# files in skimage/data are grey, synthetic, microscopy/medical/astronomy images or tiny test
# files; motorcycle_right.png is left out as a near-duplicate of motorcycle_left.png.
_SAMPLE_FILES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("skimage", ("data", "astronaut.png")),
    ("skimage", ("data", "chelsea.png")),
    ("skimage", ("data", "coffee.png")),
    ("skimage", ("data", "motorcycle_left.png")),
    ("skimage", ("data", "rocket.jpg")),
    ("sklearn", ("datasets", "images", "china.jpg")),
    ("sklearn", ("datasets", "images", "flower.jpg")),
    ("matplotlib", ("mpl-data", "sample_data", "grace_hopper.jpg")),
)


def _package_dir(package: str) -> str | None:
    """The folder of an installed package, found without importing (executing) it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return next(iter(spec.submodule_search_locations), None)


def sample_image_paths() -> list[str]:
    """Paths of the colour photographs bundled inside installed wheels (the ``sample`` dataset).

    These are scikit-image's ``astronaut.png``, ``chelsea.png``, ``coffee.png``,
    ``motorcycle_left.png`` and ``rocket.jpg`` (files inside the wheel, never the ones that
    scikit-image downloads with pooch), scikit-learn's ``china.jpg`` and ``flower.jpg`` and
    matplotlib's ``grace_hopper.jpg``: colour photographs of at least 256x256 pixels. Packages that
    are not installed, and files missing from them, are left out; scikit-image is a dependency of
    pastegen, so the list is never empty in a working installation.

    Returns
    -------
    list of str
        Absolute paths of existing files, sorted by their string value.

    Raises
    ------
    SourceError
        None of the files can be found.
    """
    paths = []
    for package, parts in _SAMPLE_FILES:
        folder = _package_dir(package)
        if folder is None:
            continue
        path = os.path.abspath(os.path.join(folder, *parts))
        if os.path.isfile(path):
            paths.append(path)
    if not paths:
        raise SourceError(
            "no bundled sample photos found: reinstall scikit-image (its wheel ships "
            "skimage/data/astronaut.png)"
        )
    return sorted(paths)
