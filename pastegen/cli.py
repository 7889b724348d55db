"""``pastegen``: the command line. Parses, calls the library, prints; no logic of its own."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from typing import Any, Literal

import click

from . import __version__
from .components.strength import strength_spec
from .components.tone import ToneSpec
from .errors import PastegenError
from .pipeline import DEFAULT_PHOTO_CACHE_MB, DISABLEABLE, PRESETS, TupleGenerator, TupleSpec, preset
from .sources import DATA_ROOT_ENV, DATASET_NAMES, DATASET_PRESETS, DEFAULT_MAX_PIXELS, dataset_paths, find_images
from .store import COMPRESSIONS, DEFAULT_COMPRESSION

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

#: Preset used with ``--images`` when no ``--preset`` is given.
IMAGES_PRESET = "photos"


def _size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*", text)
    if not m:
        raise click.BadParameter(f"expected SIZE or HEIGHTxWIDTH, got {text!r}")
    h = int(m.group(1))
    return h, int(m.group(2) or h)


def _source_options(f):
    """Options shared by make and preview to pick source photos and the spec."""
    opts = [
        click.option("--dataset", type=click.Choice(DATASET_NAMES), help="Named dataset under the data root ('sample': photos bundled in installed wheels)."),
        click.option("--images", "images", metavar="PATH", help="A folder (searched recursively), a glob, or a text file listing image paths."),
        click.option("--data-root", type=click.Path(file_okay=False), envvar=DATA_ROOT_ENV, show_envvar=True, help="Folder holding the named datasets."),
        click.option("--split", type=click.Choice(["train", "val", "test", "all"]), default="train", show_default=True, help="Dataset split."),
        click.option("--preset", "preset_name", type=click.Choice(sorted(PRESETS)), help="Spec preset (default: the dataset's own; 'photos' for --images)."),
        click.option("--sigma", type=click.FloatRange(min=0), help="Corner offset range σ of the homography, pixels at the working size."),
        click.option("--size", "size", metavar="SIZE|HxW", help="Working size of the tuples, e.g. 256 or 256x512."),
        click.option("--small", type=click.Choice(["upscale", "skip"]), help="Photos smaller than the crop: enlarge them, or skip them."),
        click.option("--color-mix", metavar="S:W,...", help="Beyond the paper: draw each tuple's colour strength from these STRENGTH:WEIGHT pairs "
                                                                 "(0 = identity, 1 = the full ranges), e.g. 0:1,0.25:1,0.5:1,1:1."),
        click.option("--geometric-mix", metavar="S:W,...", help="Beyond the paper: draw each tuple's factor on σ from these STRENGTH:WEIGHT pairs, "
                                                                     "e.g. 0:1,0.5:1,1:2."),
        click.option("--tone", type=click.FloatRange(0, 1), help="Beyond the paper: share of the tuples whose source gets a camera-like "
                                                                  "tone change (exposure, white balance, gamma, offset) instead of the "
                                                                  "colour transforms, e.g. 0.3."),
        click.option("--disable", multiple=True, type=click.Choice(DISABLEABLE), help="Replace a component of T by its identity (repeatable)."),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Root seed."),
        click.option("--max-pixels", type=click.IntRange(min=1), default=DEFAULT_MAX_PIXELS, show_default=True,
                     help="Refuse source images with more pixels (checked before decoding)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _resolve(dataset, images, data_root, split, preset_name, sigma, size, small, disable, color_mix=None, geometric_mix=None,
             tone_share=None) -> tuple[list[str], TupleSpec]:
    if bool(dataset) == bool(images):
        raise click.UsageError("give exactly one of --dataset NAME or --images PATH")
    if dataset:
        paths = dataset_paths(dataset, data_root=data_root, split=split)
        name = preset_name or DATASET_PRESETS.get(dataset, dataset)
    else:
        paths = find_images(images)
        name = preset_name or IMAGES_PRESET
    spec = preset(name)
    changes: dict[str, Any] = {}
    if sigma is not None:
        changes["sigma"] = sigma
    hw = _size(size)
    if hw:
        changes["height"], changes["width"] = hw
    if small:
        changes["crop"] = dataclasses.replace(spec.crop, small=small)
    if disable:
        changes["disabled"] = tuple(disable)
    if color_mix or geometric_mix:
        changes["strength"] = strength_spec(color_mix, geometric_mix)
    if tone_share:
        changes["tone"] = ToneSpec(probability=tone_share)
    return paths, spec.replace(**changes) if changes else spec


class _Progress:
    """Click progress bars for the scan and generate stages of :func:`pastegen.precompute.make`."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bars: dict[str, Any] = {}

    def __call__(self, stage: str, n: int, total: int) -> None:
        if self.quiet:
            return
        if stage not in self.bars:
            for bar in self.bars.values():
                bar.render_finish()
            label = {"scan": "scanning sources", "generate": "generating tuples"}.get(stage, stage)
            bar = click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True, show_eta=True, width=30)
            bar.__enter__()
            self.bars[stage] = bar
        self.bars[stage].update(n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.render_finish()


def _shard_option(ctx, param, value):
    from .shards import parse_shard

    if value is None:
        return None
    try:
        return parse_shard(value)
    except PastegenError as e:
        raise click.BadParameter(str(e)) from None


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="pastegen")
def main() -> None:
    """Self-supervised training tuples for smart copy-paste (Portenier et al. 2019).

    \b
    Examples:
      pastegen make --dataset sample --count 64 sample.h5
      PASTEGEN_DATA_ROOT=../shared/data pastegen make --dataset faces --sigma 15 out.h5
      pastegen preview --from out.h5 preview.png
      pastegen verify out.h5
      pastegen make --dataset sample --count 1000 --shard 0/2 a.h5   # and 1/2 b.h5 elsewhere
      pastegen combine all.h5 a.h5 b.h5
    """


@main.command(context_settings=CONTEXT)
@click.argument("output", type=click.Path(dir_okay=False, writable=True))
@_source_options
@click.option("--count", type=click.IntRange(min=1), default=1000, show_default=True, help="Number of tuples.")
@click.option("--jobs", "-j", type=click.IntRange(min=-1), default=1, show_default=True,
              help="Worker processes (-1: all cores); the output does not depend on it.")
@click.option("--compression", type=click.Choice(COMPRESSIONS), default=DEFAULT_COMPRESSION, show_default=True, help="HDF5 compression filter.")
@click.option("--resume", is_flag=True, help="Finish an interrupted run of the same settings.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--strict", is_flag=True, help="Stop at the first unreadable source image instead of skipping it.")
@click.option("--shard", "shard", metavar="K/N", callback=_shard_option,
              help="Make only shard K of N (0 <= K < N) of the COUNT tuples: global indices floor(K*COUNT/N) to floor((K+1)*COUNT/N)-1. "
                   "Join the shards with `pastegen combine`.")
@click.option("--cache-mb", type=click.FloatRange(min=0), default=DEFAULT_PHOTO_CACHE_MB, show_default=True,
              help="Memory for decoded source photos when COUNT exceeds the number of photos (0: decode every time); the output does not depend on it.")
@click.option("--no-scan-cache", "no_scan_cache", is_flag=True,
              help="Decode and hash every source photo, without reading or updating the scan cache "
                   "(in $PASTEGEN_CACHE_DIR, else $XDG_CACHE_HOME/pastegen or ~/.cache/pastegen); the output does not depend on it.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars and no summary.")
def make(output, dataset, images, data_root, split, preset_name, sigma, size, small, color_mix, geometric_mix, tone, disable, seed, max_pixels, count, jobs,
         compression, resume, overwrite, strict, shard, cache_mb, no_scan_cache, quiet):
    """Generate COUNT tuples (I, I_T, I_S, M) into the HDF5 file OUTPUT.

    With --shard K/N, OUTPUT holds shard K of N of the COUNT tuples (a contiguous block of global
    indices, the same tuples a single run has there); every shard is a complete file of its own
    (resume, verify), and `pastegen combine` joins them without copying pixels.

    \b
    Examples:
      pastegen make --dataset sample --count 64 sample.h5
      PASTEGEN_DATA_ROOT=../shared/data pastegen make --dataset faces --sigma 15 --count 200 out.h5
      pastegen make --images ~/photos --size 256 --jobs 2 photos.h5
      pastegen make --dataset faces --data-root /data --count 200 --resume out.h5   # after an interruption
      pastegen make --dataset sample --count 1000 --shard 0/4 part0.h5             # on machine 0 of 4
    """
    from .precompute import make as run_make

    with _errors():
        paths, spec = _resolve(dataset, images, data_root, split, preset_name, sigma, size, small, disable, color_mix, geometric_mix, tone)
        progress = _Progress(quiet)
        try:
            result = run_make(
                output, paths, spec, count=count, seed=seed, jobs=jobs, compression=compression,
                resume=resume, overwrite=overwrite, strict=strict, max_pixels=max_pixels, progress=progress,
                shard=shard, cache_mb=cache_mb, scan_cache=not no_scan_cache,
            )
        except KeyboardInterrupt:
            raise click.ClickException(f"interrupted; run the same command with --resume to finish {output}") from None
        finally:
            progress.close()  # end the progress line before any Error line
    if not quiet:
        mb = result.file_bytes / result.count / 1e6
        click.echo(
            f"wrote {result.count} tuples ({spec.height}x{spec.width}, preset {spec.name}, σ={spec.geometric.sigma:g}, "
            f"seed {result.seed}) to {result.path}: {result.generated} generated in {result.seconds:.1f} s "
            f"({result.tuples_per_second:.1f} tuples/s), {mb:.2f} MB per tuple ({result.compression})"
        )
        click.echo(f"sources: {len(result.sources)} used, {len(result.skipped)} skipped")
        for s in result.skipped:
            click.echo(f"  skipped {s.path}: {s.reason}")
        if result.shard is not None:
            k, n = result.shard
            click.echo(
                f"shard {k}/{n}: global indices {result.index_offset}..{result.index_offset + result.count - 1} "
                f"of {result.total_count}; join the {n} shards with `pastegen combine`"
            )


@main.command(context_settings=CONTEXT)
@click.argument("output", type=click.Path(dir_okay=False, writable=True))
@click.option("--from", "from_file", type=click.Path(dir_okay=False), help="Preview tuples stored in this HDF5 file.")
@_source_options
@click.option("--count", type=click.IntRange(1, 64), default=4, show_default=True, help="Number of tuples shown.")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True, help="First tuple index.")
@click.option("--tile", type=click.IntRange(32, 1024), default=256, show_default=True, help="Largest side of each tile in pixels.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def preview(output, from_file, dataset, images, data_root, split, preset_name, sigma, size, small, color_mix, geometric_mix, tone, disable, seed, max_pixels,
            count, start, tile, quiet):
    """Write a PNG grid like the paper's Figures 2 and 3 to OUTPUT.

    Each tuple gets two rows: I, T_color(I), T_shading(I), T_geometric(I), T(I); and
    I, T(I)*M, I*(1-M), X, M.

    \b
    Examples:
      pastegen preview --from out.h5 preview.png
      pastegen preview --dataset sample --count 3 preview.png
      PASTEGEN_DATA_ROOT=../shared/data pastegen preview --dataset faces --sigma 15 faces.png
    """
    from .precompute import scan_for_make
    from .preview import grid_from_file, grid_from_generator, write_png
    from .store import open_tuples

    with _errors():
        if from_file:
            if dataset or images:
                raise click.UsageError("give either --from FILE or a source (--dataset/--images), not both")
            with open_tuples(from_file) as tf:
                stop = min(len(tf), start + count)
                if start >= len(tf):
                    raise click.UsageError(f"--start {start} is past the end of {from_file} ({len(tf)} tuples)")
                grid = grid_from_file(tf, range(start, stop), tile)
        else:
            paths, spec = _resolve(dataset, images, data_root, split, preset_name, sigma, size, small, disable, color_mix, geometric_mix, tone)
            # The same scan as ``make``: bad files are skipped, and tuple i is the one make writes.
            progress = _Progress(quiet)
            scan = scan_for_make(paths, spec, max_pixels=max_pixels, jobs=1, strict=False, progress=progress)
            progress.close()
            gen = TupleGenerator(scan.images, spec, seed, max_pixels=max_pixels)
            grid = grid_from_generator(gen, range(start, start + count), tile)
        path = write_png(output, grid)
    click.echo(f"wrote {path} ({grid.shape[1]}x{grid.shape[0]})")


@main.command(context_settings=CONTEXT)
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as JSON.")
def info(file, as_json):
    """Show what an HDF5 tuple file holds: size, spec, seed, sources and skipped files.

    \b
    Examples:
      pastegen info out.h5
      pastegen info --json out.h5 | python -m json.tool
    """
    from .store import open_tuples

    with _errors():
        with open_tuples(file) as tf:
            attrs = dict(tf.attrs)
            n, h, w = len(tf), tf.height, tf.width
    size = os.path.getsize(file)
    combined = attrs.get("combined_from")
    if isinstance(combined, list):  # the pixels are in the shard files (open_tuples checked they exist)
        with _errors():
            size += sum(os.path.getsize(p) for p in _shard_files(file))
    if as_json:
        click.echo(json.dumps({"path": str(file), "count": n, "height": h, "width": w, "bytes": size, **_jsonable(attrs)}, indent=2))
        return
    spec = TupleSpec.from_json(attrs["spec"])
    click.echo(f"{file}: {n} tuples of {h}x{w}, {size / 1e6:.1f} MB ({size / n / 1e6:.2f} MB per tuple)")
    if isinstance(combined, list):
        click.echo(f"  combined from {len(combined)} shard file(s), mapped without copying: {', '.join(str(c.get('path')) for c in combined)}")
    if "shard" in attrs:
        k, nn = attrs["shard"]
        off = attrs.get("index_offset", 0)
        click.echo(f"  shard {k}/{nn}: global indices {off}..{off + n - 1} of {attrs.get('total_count')}")
    derived = f" ({attrs['derived'].replace(',', ', ')} rebuilt from I and M, not stored)" if attrs.get("derived") else ""
    click.echo(f"  format version {attrs.get('format_version')}{derived}, written by {attrs.get('generator', '?')}, compression {attrs.get('compression')}")
    click.echo(f"  preset {spec.name}, seed {attrs['seed']}, σ={spec.geometric.sigma:g}, crop {spec.crop.mode}, disabled: {', '.join(spec.disabled) or 'none'}")
    click.echo(f"  sources: {len(attrs.get('sources', []))} used, {len(attrs.get('skipped', []))} skipped")
    for s in attrs.get("skipped", []):
        click.echo(f"    skipped {s['path']}: {s['reason']}")


def _shard_files(file) -> list:
    """The shard files a combined file maps (those that exist)."""
    from pathlib import Path

    import h5py

    from .store.reader import virtual_source_files

    with h5py.File(file, "r", locking=False) as f:
        found = virtual_source_files(f, Path(file))
    return [p for p in found.values() if p is not None]


def _jsonable(attrs: dict) -> dict:
    out = {}
    for k, v in attrs.items():
        if isinstance(v, str) and v[:1] in "{[":
            try:
                v = json.loads(v)
            except json.JSONDecodeError:
                pass
        out[k] = v.item() if hasattr(v, "item") else v
    return out


@main.command(context_settings=CONTEXT)
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--replay", type=click.IntRange(min=0), default=8, show_default=True,
              help="Also re-render this many tuples from their stored parameters (0: none).")
def verify(file, replay):
    """Check a tuple file: checksums of every chunk, mask and composite consistency, replay.

    Exits with status 1 and one line per problem when the file is damaged.

    \b
    Examples:
      pastegen verify out.h5
      pastegen verify --replay 100 out.h5
      pastegen verify combined.h5     # a combined file: also checks its shard files are the right ones
    """
    from .precompute import replay_check
    from .shards import check_combined
    from .store import verify as verify_file

    with _errors():
        report = verify_file(file)
        problems = list(report.problems) + check_combined(file)
        if report.ok and replay:
            n = min(replay, report.count)
            step = max(1, report.count // n) if n else 1
            problems += replay_check(file, list(range(0, report.count, step))[:n])
    if problems:
        for p in problems[:20]:
            click.echo(f"problem: {p}", err=True)
        raise click.ClickException(f"{file} failed verification: {len(problems)} problem(s)")
    click.echo(f"{file}: OK ({report.count} tuples checked{f', {min(replay, report.count)} replayed exactly' if replay else ''})")


@main.command(context_settings=CONTEXT)
@click.argument("output", type=click.Path(dir_okay=False, writable=True))
@click.argument("shards", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("-q", "--quiet", is_flag=True, help="No summary.")
def combine(output, shards, overwrite, quiet):
    """Join the shard files SHARDS (from `make --shard K/N`) into OUTPUT, copying no pixels.

    OUTPUT's datasets are HDF5 virtual datasets that map the shard files (by relative path
    when they are in OUTPUT's folder, so the folder can be moved as a whole); keep the shards
    beside it. The shards must come from one run (same spec, seed, sources and COUNT), be
    complete, and cover every global index exactly once.

    \b
    Examples:
      pastegen make --dataset sample --count 1000 --shard 0/2 part0.h5   # machine 0
      pastegen make --dataset sample --count 1000 --shard 1/2 part1.h5   # machine 1
      pastegen combine sample.h5 part0.h5 part1.h5
      pastegen combine sample.h5 part*.h5 && pastegen verify sample.h5
    """
    from .shards import combine as run_combine

    with _errors():
        result = run_combine(output, list(shards), overwrite=overwrite)
    if not quiet:
        click.echo(
            f"wrote {result.path}: {result.count} tuples mapped from {len(result.shards)} shard file(s) "
            f"({result.shard_bytes / 1e6:.1f} MB, {'relative paths' if result.relative else 'absolute paths'}); keep the shards beside it"
        )


class _errors:
    """Turn library errors into one ``Error: ...`` line and a non-zero exit."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> Literal[False]:
        if exc is None or isinstance(exc, (click.ClickException, click.exceptions.Exit, click.Abort)):
            return False
        if isinstance(exc, PastegenError):
            raise click.ClickException(str(exc)) from None
        if isinstance(exc, OSError) and exc.filename:
            raise click.ClickException(f"{exc.filename}: {exc.strerror or exc}") from None
        return False


if __name__ == "__main__":  # pragma: no cover
    main()
