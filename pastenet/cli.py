"""The ``pastenet`` command line: a thin layer over :func:`pastenet.train.train`.

Every error the library raises on purpose becomes one ``Error: ...`` line (exit status 1).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from click.core import ParameterSource

from ._version import __version__
from .config import PRESETS
from .errors import PastenetError

CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True}

# CLI option name -> TrainOptions field (only those that differ)
_FIELD = {"lr_g": "lr_g", "lr_d": "lr_d", "gamma": "drift_gamma", "gp_lambda": "gp_lambda", "quiet": "progress"}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="pastenet")
def main() -> None:
    """The copy-paste GAN of "Smart, Deep Copy-Paste" (Portenier et al. 2019).

    \b
    Examples:
      pastegen make --dataset sample --count 256 --size 128 sample.h5
      pastenet train sample.h5 --preset tiny --steps 200
      PASTEGEN_DATA_ROOT=../shared/data pastegen make --dataset faces --sigma 15 out.h5
      pastenet train out.h5                      # paper-512 on the GPU
      pastenet train --resume runs/00000-paper-512-out --steps 500000
      pastenet paste --model runs --target t.png --source s.png --mask m.png -o out.png
      pastenet demo --model runs -o demo.png
      pastenet models                            # the model zoo (shipped weights)
      pastenet paste --model faces-poisson-256 --target t.png --source s.png --mask m.png -o out.png
      pastenet export runs/00004-colormap-stream-faces my-model --to my-zoo
    """


class _Progress:
    def __init__(self, total: int, start: int) -> None:
        self.bar = click.progressbar(length=total, label="training", file=sys.stderr, show_pos=True, show_eta=True, width=24,
                                     item_show_func=self._show)
        self.bar.__enter__()
        self.done = start
        self.stats: dict[str, float] = {}
        if start:
            self.bar.update(start)

    def _show(self, _: Any) -> str | None:
        s = self.stats
        if not s:
            return None
        return f"L1 {s.get('l1', float('nan')):.4f}  D {s.get('loss_d', float('nan')):+.3f}  {s.get('it_s', 0):.2f} it/s"

    def __call__(self, step: int, total: int, stats: dict[str, float]) -> None:
        self.stats = dict(stats)
        self.bar.update(step - self.done, current_item=step)
        self.done = step

    def close(self) -> None:
        self.bar.render_finish()


@main.command(context_settings=CONTEXT)
@click.argument("data", required=False, type=click.Path(dir_okay=False))
@click.option("--preset", type=click.Choice(list(PRESETS)), default="paper-512", help="Model preset; the resolution is the data's.")
@click.option("--resolution", type=click.IntRange(min=16), default=None, help="--stream: tuple size (default: the preset's); with DATA it must equal the file's.")
@click.option("--steps", type=click.IntRange(min=1), default=250_000, help="Training iterations (one D and one G update each).")
@click.option("--batch", type=click.IntRange(min=1), default=5, help="Samples per step on each process.")
@click.option("--out", type=click.Path(file_okay=False), default="runs", help="Parent folder of the numbered run folders.")
@click.option("--resume", type=click.Path(file_okay=False), default=None, help="Continue this run folder from its newest checkpoint, exactly and on the same data; or from RUN/checkpoints/step-N, which must be the newest (move newer ones out of RUN/checkpoints first: they would be overwritten and rotated away).")
@click.option("--init-from", type=click.Path(), default=None, help="Fine-tune: start a new run from these weights (a checkpoint or run folder).")
@click.option("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N.")
@click.option("--stream", is_flag=True, help="Render tuples on the fly with pastegen instead of reading DATA.")
@click.option("--dataset", default=None, help="--stream: pastegen dataset (faces, faces-wild, scenes, cityscapes, photos, photos-extra, sample); several joined with commas, e.g. faces,faces-wild.")
@click.option("--images", default=None, help="--stream: a folder, glob or list of photos.")
@click.option("--data-root", type=click.Path(file_okay=False), envvar="PASTEGEN_DATA_ROOT", default=None, help="--stream: folder of the named datasets.")
@click.option("--sigma", type=click.FloatRange(min=0), default=None, help="--stream: corner offset range σ of T_geometric (pixels).")
@click.option("--data-seed", type=click.IntRange(min=0), default=0, help="--stream: pastegen seed of the tuples.")
@click.option("--color-mix", default=None, metavar="S:W,...", help="--stream, beyond the paper: draw each tuple's colour strength from these STRENGTH:WEIGHT pairs (0: identity, 1: the paper's ranges).")
@click.option("--geometric-mix", default=None, metavar="S:W,...", help="--stream, beyond the paper: draw each tuple's factor on σ from these STRENGTH:WEIGHT pairs.")
@click.option("--ema-kimg", type=click.FloatRange(min=0), default=0.0, help="Beyond the paper: keep a moving average of G's weights (G_ema, StyleGAN2-ADA) with this half-life in thousands of samples; paste and export use it. 0: none.")
@click.option("--seed", type=click.IntRange(min=0), default=0, help="Seed of the weights, the data order and the GAN's noise.")
@click.option("--lr-g", type=click.FloatRange(min=0, min_open=True), default=2e-4, help="Adam learning rate of G.")
@click.option("--lr-d", type=click.FloatRange(min=0, min_open=True), default=2e-4, help="Adam learning rate of D.")
@click.option("--beta1", type=click.FloatRange(0, 1, max_open=True), default=0.0, help="Adam β1 (the paper: 0).")
@click.option("--beta2", type=click.FloatRange(0, 1, max_open=True), default=0.9, help="Adam β2 (the paper: 0.9).")
@click.option("--alpha", type=click.FloatRange(min=0), default=1e-4, help="Weight of the adversarial term in G's loss (eq. 7).")
@click.option("--gamma", type=click.FloatRange(min=0), default=1e-3, help="Weight of E[D(I)^2] (eq. 7).")
@click.option("--gp-lambda", type=click.FloatRange(min=0), default=10.0, help="Gradient penalty weight (eq. 5).")
@click.option("--recon", type=click.Choice(["image", "mask"]), default="image", help="Reconstruction loss: eq. 6 over the image, or (beyond the paper) L1 per masked pixel.")
@click.option("--border-weight", type=click.FloatRange(min=0), default=0.0, help="--recon mask: extra L1 weight within --border-px inside the mask's border.")
@click.option("--border-px", type=click.IntRange(min=1), default=4, help="Width of that band in pixels.")
@click.option("--prior", type=click.Choice(["none", "poisson"]), default="none", help="Beyond the paper, colour-map presets: G sees the source Poisson-blended into the target inside the mask (poisson) instead of the source itself.")
@click.option("--truth", type=click.Choice(["image", "colours"]), default="image", help="What Y is compared with: I (eq. 6), or (beyond the paper, --stream) the pasted content with its own colours, T_geometric(I), inside the mask: for colour-only heads.")
@click.option("--amp", type=click.Choice(["auto", "bf16", "off"]), default="auto", help="bf16 autocast (auto: on CUDA).")
@click.option("--channels-last", type=click.Choice(["auto", "on", "off"]), default="auto", help="channels_last memory format (auto: on CUDA).")
@click.option("--compile", is_flag=True, help="torch.compile the generator.")
@click.option("--workers", type=click.IntRange(min=0), default=2, help="Data loader worker processes.")
@click.option("--log-every", type=click.IntRange(min=1), default=10, help="Steps between stats lines.")
@click.option("--sample-every", type=click.IntRange(min=1), default=500, help="Steps between sample grids.")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=1000, help="Steps between checkpoints.")
@click.option("--keep", type=click.IntRange(min=1), default=3, help="Checkpoints kept.")
@click.option("--dry-run", is_flag=True, help="Print the resolved options as JSON and exit.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def train(ctx: click.Context, data: str | None, resume: str | None, dry_run: bool, quiet: bool, **kwargs: Any) -> None:
    """Train the GAN on DATA, a tuple file made by `pastegen make` (or on a stream).

    Each run gets a numbered folder under --out with options.json, data.json (the data's
    identity), stats.jsonl, TensorBoard events, sample grids and checkpoints. Ctrl-C (SIGINT) or
    SIGTERM saves a checkpoint and stops with exit status 130 or 143, printing the resume command
    (also with -q); --resume RUN continues exactly where the checkpoint left off, on the same data
    (other data is refused). A run folder is locked while a process trains in it: a second
    --resume of it is refused.

    \b
    Examples:
      pastenet train sample.h5 --preset tiny --steps 200 --device cpu
      pastenet train out.h5 --preset small-256 --batch 16
      pastenet train --stream --dataset faces --data-root ../shared/data --preset small-256
      pastenet train --stream --dataset faces --resolution 256 --sigma 7.5 --preset tiny
      pastenet train --resume runs/00003-tiny-sample --steps 400
      pastenet train out.h5 --init-from runs/00003-tiny-sample --steps 1000
      torchrun --nproc-per-node 8 -m pastenet.cli train out.h5 --batch 5
    """
    import signal
    import warnings

    from .train import TrainOptions, train as run_training

    kwargs["drift_gamma"] = kwargs.pop("gamma")
    kwargs["progress"] = not quiet
    hook = None if quiet or dry_run else _ProgressHook()
    with warnings.catch_warnings():
        warnings.showwarning = _warning_line
        result = _run_training(ctx, run_training, TrainOptions, data, resume, dry_run, hook, kwargs)
    if dry_run:
        click.echo(json.dumps(result.options.to_record(), indent=2, sort_keys=True))
        return
    if result.interrupted:  # also with -q: the exit status says it, the line says how to go on
        click.echo(f"interrupted at step {result.step}; checkpoint saved. Continue with: pastenet train --resume {result.run_dir}", err=True)
        ctx.exit(128 + int(result.signal or signal.SIGINT))
    if not quiet:
        s = result.stats
        figures = f"L1 {s['l1']:.4f}, {s['it_s']:.2f} it/s" if "l1" in s and "it_s" in s else ""
        click.echo(f"{result.run_dir}: {result.step} steps ({figures})", err=True)


def _warning_line(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    """``warnings.showwarning`` of the commands: one ``Warning: ...`` line on stderr."""
    click.echo(f"Warning: {message}", err=True)


def _run_training(ctx: click.Context, run_training: Any, TrainOptions: Any, data: str | None, resume: str | None, dry_run: bool,
                  hook: "_ProgressHook | None", kwargs: dict[str, Any]) -> Any:
    """Call :func:`pastenet.train.train`; its errors become one ``Error:`` line (a second Ctrl-C: status 130)."""
    try:
        if resume is not None:
            explicit = {
                key: value
                for key, value in kwargs.items()
                if ctx.get_parameter_source(_cli_name(key)) not in (ParameterSource.DEFAULT, None)
            }
            if data is not None:
                explicit["data"] = data
            result = run_training(resume=resume, changes=explicit, dry_run=dry_run, progress=hook)
        else:
            options = TrainOptions(data=data, **kwargs)
            result = run_training(options, dry_run=dry_run, progress=hook)
    except (PastenetError, FloatingPointError) as e:
        raise click.ClickException(_one_line(e)) from None
    except OSError as e:  # a write the library does not wrap (samples, stats, options.json), e.g. a full disk
        where = f" ({e.filename})" if e.filename else ""
        raise click.ClickException(f"training stopped: {e.strerror or _one_line(e)}{where}; the last complete checkpoint is intact") from None
    except KeyboardInterrupt as e:  # a second Ctrl-C, or one before training started: no checkpoint saved now
        if hook is not None:
            hook.finish()
        run = getattr(e, "run_dir", None) or resume
        if run is None:
            click.echo("Error: interrupted before training started", err=True)
        else:
            click.echo(f"Error: interrupted (no checkpoint saved now); continue from the last complete one with: pastenet train --resume {run}", err=True)
        ctx.exit(130)
    finally:
        if hook is not None:
            hook.finish()  # end the bar's line before any message
    return result


class _Offset(click.ParamType):
    """``DY,DX`` (two integers, either may be negative)."""

    name = "DY,DX"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        parts = str(value).replace(" ", "").split(",")
        try:
            if len(parts) != 2:
                raise ValueError
            return int(parts[0]), int(parts[1])
        except ValueError:
            self.fail(f"{value!r} is not DY,DX (two integers, e.g. 12,-40)", param, ctx)


@main.command(context_settings=CONTEXT)
@click.option("--model", "model_path", required=True, type=click.Path(), help="A model-zoo name (pastenet models), run folder (latest checkpoint), checkpoint folder or weights.safetensors.")
@click.option("--target", required=True, type=click.Path(), help="The photo to paste into (PNG, JPEG, ...; grey, RGB, RGBA, 8 or 16 bits).")
@click.option("--source", default=None, type=click.Path(), help="The photo the region comes from.  [default: the target]")
@click.option("--mask", required=True, type=click.Path(), help="The region in source coordinates, the source's size; any non-zero pixel is inside (save masks as PNG: JPEG noise counts too, with a warning).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output image; its extension picks the format (.png and .tiff keep 16 bits and alpha; JPEG, BMP, WebP get 8 bits, scaled, with a warning).")
@click.option("--offset", type=_Offset(), default="0,0", help="DY,DX: source pixel (y, x) lands on target pixel (y+DY, x+DX).")
@click.option("--seed", type=click.IntRange(min=0), default=0, help="Seed of the generator's noise images.")
@click.option("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N.")
@click.option("--full", is_flag=True, help="Process the whole image instead of a window around the region (same result, slower).")
@click.option("--margin", type=click.IntRange(min=0), default=None, help="Window margin in pixels.  [default: the generator's receptive radius: exact]")
@click.option("--scale", default="auto", help="Run G on the image shrunk by this factor in (0, 1] and apply its output at full resolution; auto: the pixel scale the model was trained at.")
@click.option("--seam", type=click.Choice(["auto", "poisson", "none"]), default="auto", help="poisson: make the region meet the target exactly along its border (auto: for colour-map models).")
@click.option("--detail", type=click.Choice(["auto", "source", "map"]), default="auto", help="Colour-map models: keep the source's fine detail (source; auto) or apply the map to every frequency (map).")
@click.option("-q", "--quiet", is_flag=True, help="No summary line.")
def paste(model_path: str, target: str, source: str | None, mask: str, output: str, offset: tuple[int, int], seed: int,
          device: str, full: bool, margin: int | None, scale: str, seam: str, detail: str, quiet: bool) -> None:
    """Paste the MASK region of SOURCE into TARGET and harmonise it with a trained generator.

    Images of any size and aspect; pixels outside the pasted region are written unchanged, and
    the output keeps the target's channels (grey, RGB, RGBA: alpha untouched) and bit depth. The
    output is written under a temporary name and renamed into place.

    \b
    Examples:
      pastenet paste --model runs/00000-tiny-sample --target t.png --source s.png --mask m.png -o out.png
      pastenet paste --model runs/00000-tiny-sample/checkpoints/step-00000200 \\
          --target photo.png --mask region.png --offset 0,-120 -o moved.png
      pastenet paste --model weights.safetensors --target big.png --source s.png --mask m.png \\
          --offset=-40,300 --seed 3 --device cuda -o out16.png
    """
    import time
    import warnings

    from . import paste as api

    started = time.perf_counter()
    try:
        tgt = api.read_image(target, what="target")
        src = tgt if source is None else api.read_image(source, what="source")
        msk = api.read_image(mask, what="mask")
        if msk.shape[:2] != src.shape[:2]:
            raise api.MaskError(
                f"mask {mask} is {msk.shape[1]}x{msk.shape[0]} but the source {source or target} is "
                f"{src.shape[1]}x{src.shape[0]} (width x height); they must have the same size"
            )
        model = api.load_generator(model_path, device=device)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", api.PasteWarning)
            result = api.paste_with_details(model, tgt, src, msk, offset=offset, seed=seed, roi=not full, margin=margin,
                                            scale=_scale_value(scale), seam=seam, detail=detail)
            try:
                api.write_image(output, result.image)  # may warn: 16 bits scaled to 8 for JPEG, BMP, WebP
            finally:  # the warnings are shown even when writing fails, before its Error line
                for w in caught:
                    if issubclass(w.category, api.PasteWarning):
                        click.echo(f"Warning: {w.message}", err=True)
                    else:
                        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    except PastenetError as e:
        raise click.ClickException(_one_line(e)) from None
    if not quiet:
        (h, w), (hp, wp) = result.window_shape, result.padded_shape
        click.echo(
            f"{output}: pasted {int(result.mask.sum())} px on {model.device}, processed {w}x{h} of {wp}x{hp} "
            f"in {time.perf_counter() - started:.2f} s",
            err=True,
        )


@main.command(context_settings=CONTEXT)
@click.option("--model", "model_path", required=True, type=click.Path(), help="A model-zoo name (pastenet models), run folder, checkpoint folder, weights.safetensors, or a folder of runs (its newest).")
@click.option("-o", "--output", default="demo.png", type=click.Path(dir_okay=False), help="The side-by-side PNG.")
@click.option("--size", type=click.IntRange(min=32), default=None, help="Width of the target photo (default: the model's training resolution).")
@click.option("--seed", type=click.IntRange(min=0), default=0, help="Seed of G's noise.")
@click.option("--device", default="auto", help="auto, cpu, cuda or cuda:N.")
@click.option("-q", "--quiet", is_flag=True, help="No summary line.")
def demo(model_path: str, output: str, size: int | None, seed: int, device: str, quiet: bool) -> None:
    """Paste Grace Hopper's face onto the astronaut (photos shipped in installed wheels).

    Writes target | source with the region outlined | naive paste (the network's input) |
    network output, side by side.

    \b
    Examples:
      pastenet demo --model runs -o demo.png
      pastenet demo --model faces-poisson-256 -o demo.png
      pastenet demo --model runs/00003-small-256-faces --size 256 -o demo.png
    """
    from . import paste as api
    from .demo import demo as run_demo

    try:
        model = api.load_generator(model_path, device=device)
        result = run_demo(model, size=size, seed=seed)
        api.write_image(output, result.sheet)
    except PastenetError as e:
        raise click.ClickException(_one_line(e)) from None
    if not quiet:
        click.echo(f"{output}: example paste with {model.checkpoint}", err=True)


@main.command(context_settings=CONTEXT)
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="The registry entries (or NAME's entry) as JSON.")
def models(name: str | None, as_json: bool) -> None:
    """List the model zoo's shipped generators, or print NAME's model card.

    Load one with `pastenet paste --model NAME ...` or `load_generator("NAME")`. The environment
    variable PASTENET_ZOO names another zoo folder (e.g. one written by `pastenet export --to`).

    \b
    Examples:
      pastenet models
      pastenet models faces-poisson-256
      pastenet models --json
    """
    from .zoo import get_model, list_models, zoo_dir

    try:
        if name is not None:
            entry = get_model(name)
            if as_json:
                click.echo(json.dumps({entry.name: entry.to_record()}, indent=2, sort_keys=True))
            else:
                try:
                    click.echo(entry.card_path.read_text(encoding="utf-8"), nl=False)
                except OSError:
                    raise click.ClickException(f"the model card {entry.card_path} of {name!r} is missing; reinstall the package") from None
            return
        entries = list_models()
    except PastenetError as e:
        raise click.ClickException(_one_line(e)) from None
    if as_json:
        click.echo(json.dumps({e.name: e.to_record() for e in entries}, indent=2, sort_keys=True))
        return
    if not entries:
        click.echo(f"the zoo in {zoo_dir()} is empty; add a model with `pastenet export RUN NAME`")
        return
    click.echo(_models_table(entries))


def _models_table(entries: list[Any]) -> str:
    """Name, preset/output, resolution, steps, data, size and description, one model a line."""
    rows = [("name", "preset/output", "res", "steps", "data", "KB", "description")]
    for e in entries:
        size = str(e.path.stat().st_size // 1024) if e.path.is_file() else "missing"
        data = e.data if len(e.data) <= 40 else e.data[:39] + "…"
        rows.append((e.name, e.label, str(e.model.get("resolution")), str(e.steps), data, size, e.description))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows)


@main.command(context_settings=CONTEXT)
@click.argument("run", type=click.Path())
@click.argument("name")
@click.option("--to", type=click.Path(file_okay=False), default=None, help="Zoo folder.  [default: $PASTENET_ZOO, else the package's pastenet/zoo]")
@click.option("--description", default="", help="One line for the registry and the card.")
@click.option("--data", default=None, help="What it was trained on.  [default: from the run's options]")
@click.option("--licence", default=None, help="Licence of the weights (and a summary of the data's).  [default: MIT, with the named datasets' licences]")
@click.option("--figures", type=click.Path(dir_okay=False), default=None, help="A JSON object of measured figures for the registry and the card.")
@click.option("--overwrite", is_flag=True, help="Replace an entry of the same name.")
@click.option("--no-golden", is_flag=True, help="Do not write the golden output.")
def export(run: str, name: str, to: str | None, description: str, data: str | None, licence: str | None, figures: str | None,
           overwrite: bool, no_golden: bool) -> None:
    """Export RUN's generator into the model zoo as NAME (weights, model card, golden output, registry entry).

    RUN is a run folder (its latest checkpoint) or a checkpoint folder; the training command is
    rebuilt from the run's options.json. NAME: lower-case letters, digits, '.', '_' and '-'.

    \b
    Examples:
      pastenet export runs/00004-colormap-stream-faces-faces-wild faces-poisson-256 --description "faces"
      pastenet export runs/00000-tiny-sample my-tiny --to my-zoo --figures figures.json
    """
    from .errors import ZooError
    from .zoo.export import export_model

    try:
        extra = None
        if figures is not None:
            try:
                extra = json.loads(open(figures, encoding="utf-8").read())
            except OSError as e:
                raise ZooError(f"cannot read the figures file {figures}: {e.strerror or e}") from None
            except ValueError as e:
                raise ZooError(f"the figures file {figures} is not JSON ({_one_line(e)})") from None
        entry = export_model(run, name, to=to, description=description, data=data, licence=licence, figures=extra,
                             overwrite=overwrite, golden=not no_golden)
    except PastenetError as e:
        raise click.ClickException(_one_line(e)) from None
    except OSError as e:
        raise click.ClickException(f"cannot write the zoo: {e.strerror or e}{f' ({e.filename})' if e.filename else ''}") from None
    click.echo(f"{entry.path}: {name} (sha256 {entry.sha256[:12]}..., {entry.steps} steps), card {entry.card_path}", err=True)


def _scale_value(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not 'auto' or a number in (0, 1]", param_hint="--scale") from None


def _cli_name(key: str) -> str:
    return {"drift_gamma": "gamma", "progress": "quiet"}.get(key, key)


class _ProgressHook:
    """``progress(step, steps, stats)`` for :func:`pastenet.train.train`: the bar starts at the first
    step it hears of (the checkpoint's step when resuming)."""

    def __init__(self) -> None:
        self.bar: _Progress | None = None

    def __call__(self, step: int, total: int, stats: dict[str, float]) -> None:
        if self.bar is None:
            self.bar = _Progress(total, step - 1)
        self.bar(step, total, stats)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


if __name__ == "__main__":  # torchrun -m pastenet.cli train ...
    main()
