"""The ``pastenet`` command line: a thin layer over :func:`pastenet.train.train`.

Every error the library raises on purpose becomes one ``Error: ...`` line (exit status 1).
"""

from __future__ import annotations

import json
import signal
import sys
from typing import Any

import click
from click.core import ParameterSource

from pastegen.errors import first_line as _one_line

from ._version import __version__
from .errors import PastenetError
from .train.options import CliOption, cli_options

CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True}



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


def _click_type(spec: CliOption) -> click.ParamType:
    """The click type of a :class:`~pastenet.train.options.CliOption`: its choices, path or range."""
    if spec.choices is not None:
        return click.Choice(list(spec.choices))
    if spec.path is not None:
        return click.Path(file_okay=False) if spec.path == "dir" else click.Path()
    if spec.min is not None or spec.max is not None:
        bounded = click.IntRange if spec.kind is int else click.FloatRange
        return bounded(min=spec.min, max=spec.max, min_open=spec.min_open, max_open=spec.max_open)
    plain: dict[type, click.ParamType] = {int: click.INT, float: click.FLOAT, str: click.STRING}
    return plain[spec.kind]


def _run_options(command: Any) -> Any:
    """Add ``pastenet train``'s options of the run, made from :class:`~pastenet.train.TrainOptions`'s
    fields (defaults, help texts, bounds and flags: :func:`pastenet.train.options.cli_options`)."""
    for spec in reversed(cli_options()):
        if spec.kind is bool:  # a flag: off by default (a negated one turns its field off)
            if not (spec.negate or spec.default is False):
                raise TypeError(f"{spec.field}: a flag that is on by default needs negate=True")
            decorator = click.option(*spec.flags, spec.param, is_flag=True, help=spec.help)
        else:
            decorator = click.option(*spec.flags, spec.param, type=_click_type(spec), default=spec.default, help=spec.help,
                                     envvar=spec.envvar, metavar=spec.metavar)  # fmt: skip
        command = decorator(command)
    return command


@main.command(context_settings=CONTEXT)
@click.argument("data", required=False, type=click.Path(dir_okay=False))
@click.option("--resume", type=click.Path(file_okay=False), default=None,
              help="Continue this run folder from its newest checkpoint, exactly and on the same data; "
                   "or from RUN/checkpoints/step-N, which must be the newest "
                   "(move newer ones out of RUN/checkpoints first: they would be overwritten and rotated away).")
@_run_options
@click.option("--dry-run", is_flag=True, help="Print the resolved options as JSON and exit.")
@click.pass_context
def train(ctx: click.Context, data: str | None, resume: str | None, dry_run: bool, **params: Any) -> None:
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
    import warnings

    from .train import TrainOptions
    from .train import train as run_training

    specs = cli_options()
    fields = {spec.field: spec.to_field(params[spec.param]) for spec in specs}
    given = {spec.field for spec in specs if ctx.get_parameter_source(spec.param) not in (ParameterSource.DEFAULT, None)}
    quiet = not fields["progress"]
    hook = None if quiet or dry_run else _ProgressHook()
    with warnings.catch_warnings():
        warnings.showwarning = _warning_line
        result = _run_training(ctx, run_training, TrainOptions, data, resume, dry_run, hook, fields, given)
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
                  hook: _ProgressHook | None, kwargs: dict[str, Any], given: set[str]) -> Any:
    """Call :func:`pastenet.train.train`; its errors become one ``Error:`` line (a second Ctrl-C: status 130).

    ``kwargs`` are the run's options by field name; ``given`` names those given on the command
    line (or by environment variable): a resume changes only those.
    """
    result = None
    try:
        if resume is not None:
            explicit = {key: value for key, value in kwargs.items() if key in given}
            if data is not None:
                explicit["data"] = data
            result = run_training(resume=resume, changes=explicit, dry_run=dry_run, progress=hook)
        else:
            options = TrainOptions(data=data, **kwargs)
            result = run_training(options, dry_run=dry_run, progress=hook)
        if result.interrupted:
            # the checkpoint is saved and the process is about to exit: a further Ctrl-C must not turn
            # the exit status 130/143 into an abort or a death by signal during shut-down
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (PastenetError, FloatingPointError) as e:
        raise click.ClickException(_one_line(e)) from None
    except OSError as e:  # a write the library does not wrap (samples, stats, options.json), e.g. a full disk
        where = f" ({e.filename})" if e.filename else ""
        raise click.ClickException(f"training stopped: {e.strerror or _one_line(e)}{where}; the last complete checkpoint is intact") from None
    except KeyboardInterrupt as e:  # a second Ctrl-C, or one before training started: no checkpoint saved now
        if result is not None and result.interrupted:
            # the second Ctrl-C was raised only after training had returned (a signal is handled at
            # the interpreter's next check, which can fall just after the call): the checkpoint is saved
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            return result
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
@click.option("--model", "model_path", default=None, type=click.Path(),
              help="A model-zoo name (pastenet models), run folder (latest checkpoint), checkpoint folder or weights.safetensors "
                   "(needed for --method network).")
@click.option("--method", type=click.Choice(["network", "poisson-normal", "poisson-mixed", "naive"]), default="network",
              help="network: the trained generator; poisson-normal / poisson-mixed: Poisson image editing (source or mixed "
                   "gradients, no model); naive: the source's pixels copied.")
@click.option("--target", required=True, type=click.Path(), help="The photo to paste into (PNG, JPEG, ...; grey, RGB, RGBA, 8 or 16 bits).")
@click.option("--source", default=None, type=click.Path(), help="The photo the region comes from.  [default: the target]")
@click.option("--mask", required=True, type=click.Path(),
              help="The region in source coordinates, the source's size; any non-zero pixel is inside "
                   "(save masks as PNG: JPEG noise counts too, with a warning).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output image; its extension picks the format (.png and .tiff keep 16 bits and alpha; JPEG, BMP, WebP get 8 bits, scaled, with a warning).")
@click.option("--offset", type=_Offset(), default="0,0", help="DY,DX: source pixel (y, x) lands on target pixel (y+DY, x+DX).")
@click.option("--seed", type=click.IntRange(min=0), default=0, help="Seed of the generator's noise images.")
@click.option("--region-scale", type=click.FloatRange(0.1, 10.0), default=1.0, show_default=True,
              help="Resize the region by this factor in [0.1, 10] about the centre of the mask's bounding box before pasting; "
                   "--offset still places that centre where it would without it.")
@click.option("--region-angle", type=click.FloatRange(-360.0, 360.0), default=0.0, show_default=True,
              help="Rotate the region by this many degrees (counter-clockwise) about the centre of the mask's bounding box before pasting.")
@click.option("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N.")
@click.option("--full", is_flag=True, help="Process the whole image instead of a window around the region (same result, slower).")
@click.option("--margin", type=click.IntRange(min=0), default=None, help="Window margin in pixels.  [default: the generator's receptive radius: exact]")
@click.option("--scale", default="auto",
              help="Run G on the image shrunk by this factor in (0, 1] and apply its output at full resolution; "
                   "auto: the pixel scale the model was trained at.")
@click.option("--seam", type=click.Choice(["auto", "poisson", "none"]), default="auto",
              help="poisson: make the region meet the target exactly along its border (auto: for colour-map models).")
@click.option("--detail", type=click.Choice(["auto", "source", "map"]), default="auto",
              help="Colour-map models: keep the source's fine detail (source) or apply the map to every frequency (map); "
                   "auto: map for models with the Poisson prior, else source.")
@click.option("--context", default="auto",
              help="Pixels of the source around the region that the network also sees, at its working scale (0: none); "
                   "auto: 16 for models with the Poisson prior, else 0.")
@click.option("--min-change", type=click.FloatRange(min=0, max=float("inf"), max_open=True), default=0.0, show_default=True,
              help="Levels of 255: a correction of the network whose RMS over the region is at most this is not made, a larger one "
                   "is scaled by max(0, 1 - (t/rms)^2); 0: the network's correction as it is (a conservative paste: e.g. 6).")
@click.option("--ensemble", type=click.Choice(["auto", "flip", "none"]), default="auto",
              help="flip: average the network's output with its mirrored output on the mirrored input (one more network pass); "
                   "auto: flip for colour-map models, none for the paper's residual head.")
@click.option("-q", "--quiet", is_flag=True, help="No summary line.")
def paste(model_path: str | None, method: str, target: str, source: str | None, mask: str, output: str, offset: tuple[int, int], seed: int,
          region_scale: float, region_angle: float, device: str, full: bool, margin: int | None, scale: str, seam: str, detail: str, context: str,
          min_change: float, ensemble: str, quiet: bool) -> None:
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
        if region_scale != 1.0 or region_angle != 0.0:
            from .placement import transform_region

            src, msk, shift = transform_region(src, msk, scale=region_scale, angle=region_angle)
            offset = (offset[0] + shift[0], offset[1] + shift[1])
        if method != "network":
            from .classic import classic_paste

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", api.PasteWarning)
                image, placed = classic_paste(tgt, src, msk, offset=offset, method=method)
                try:
                    api.write_image(output, image)
                finally:
                    for shown in caught:
                        click.echo(f"Warning: {shown.message}", err=True)
            if not quiet:
                click.echo(f"{output}: pasted {int(placed.sum())} px with {method} in {time.perf_counter() - started:.2f} s", err=True)
            return
        if model_path is None:
            raise click.UsageError("--model is needed for --method network (or choose --method poisson-normal, poisson-mixed or naive)")
        model = api.load_generator(model_path, device=device)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", api.PasteWarning)
            result = api.paste_with_details(model, tgt, src, msk, offset=offset, seed=seed, roi=not full, margin=margin,
                                            scale=_scale_value(scale), seam=seam, detail=detail, context=_context_value(context),
                                            min_change=min_change, ensemble=ensemble)
            try:
                api.write_image(output, result.image)  # may warn: 16 bits scaled to 8 for JPEG, BMP, WebP
            finally:  # the warnings are shown even when writing fails, before its Error line
                for shown in caught:
                    if issubclass(shown.category, api.PasteWarning):
                        click.echo(f"Warning: {shown.message}", err=True)
                    else:
                        warnings.showwarning(shown.message, shown.category, shown.filename, shown.lineno)
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
@click.option("--model", "model_path", required=True, type=click.Path(),
              help="A model-zoo name (pastenet models), run folder, checkpoint folder, weights.safetensors, or a folder of runs (its newest).")
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
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1] for r in rows)


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


def _context_value(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise click.BadParameter(f"{text!r} is not 'auto' or an integer >= 0", param_hint="--context")
    return value


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



@main.command(context_settings=CONTEXT)
@click.option("--model", "model_path", default="faces-poisson-256", type=click.Path(),
              help="The network method's model: a zoo name, run folder, checkpoint folder or weights.safetensors (loaded on the first network paste).")
@click.option("--host", default="127.0.0.1", help="Address to bind; anything but 127.0.0.1/localhost exposes the editor to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, help="Port to listen on (0: any free port).")
@click.option("--device", default="cpu", help="Where the network runs: cpu, auto, cuda or cuda:N.")
def edit(model_path: str, host: str, port: int, device: str) -> None:
    """Start the interactive copy-paste editor in the browser (opens no browser itself).

    \b
    Examples:
      pastenet edit                              # then open http://127.0.0.1:8765/
      pastenet edit --model runs/00004-colormap-stream-faces --port 9000
    """
    try:
        from .editor.app import create_app, serve
    except ImportError as e:
        raise click.ClickException(f"the editor needs Starlette and uvicorn: pip install 'smart-copy-paste[edit]' ({e})") from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"Warning: binding to {host}: anyone who can reach this address can use the editor and upload images to it; "
                   "the default 127.0.0.1 keeps it on this machine", err=True)
    app = create_app(model_path, device=device)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"pastenet edit: serving on http://{shown}:{port}/  (Ctrl+C to stop)", err=True)
    serve(app, host=host, port=port)


if __name__ == "__main__":  # torchrun -m pastenet.cli train ...
    main()
