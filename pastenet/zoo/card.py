"""Model cards: one markdown page per zoo model, written by ``pastenet export``.

A card holds the name and description, the architecture (from the model record), what goes
beyond the paper, the exact training command, the data, the steps, the licence, the measured
figures, the sha256 and how to use the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .registry import ZooEntry

__all__ = ["render_card", "beyond_the_paper", "figures_table"]


def context_note() -> str:
    """The card's line on paste's ``context`` (models with the Poisson prior), with paste's default."""
    from ..paste import CONTEXT_PX

    return (
        f"- at paste time G also sees {CONTEXT_PX} px of the source around the region, at its working scale (`--context auto`), "
        "to tell how the source's surroundings differ from the target's; the seam and the result keep to the region"
    )


def beyond_the_paper(model: Mapping[str, Any], options: Mapping[str, Any]) -> list[str]:
    """What of the model and its training goes beyond the paper, one phrase each."""
    notes = []
    if model.get("output") == "affine":
        notes.append(
            "the affine colour-map head: G predicts a 3x3 colour matrix and a bias per pixel, applied to the "
            "full-resolution source, so the source's detail is kept by construction (`pastenet/models/heads.py`)"
        )
    if model.get("prior") == "poisson":
        notes.append(
            "the Poisson prior (`--prior poisson`): G also sees the source Poisson-blended into the target and its colour "
            "map is applied to that blend, so a map that changes nothing is Poisson image editing"
        )
    stride = int(model.get("map_stride", 1) or 1)
    if stride > 1:
        notes.append(f"G runs on the input shrunk by {stride} (map stride {stride}); its output is upsampled bilinearly")
    if options.get("alpha") == 0:
        notes.append("no adversarial term (`--alpha 0`: the reconstruction loss only, D is not run)")
    if options.get("recon") == "mask":
        band = f", the {options.get('border_px')} px band inside the border weighted 1 + {options.get('border_weight')}" if options.get("border_weight") else ""
        notes.append(f"L1 per masked pixel (`--recon mask`{band})")
    if options.get("truth") == "colours":
        notes.append("the loss's truth inside the mask is the pasted content with its own colours, T_geometric(I) (`--truth colours`), not I")
    if options.get("color_mix") or options.get("geometric_mix"):
        notes.append(f"per-tuple strength mixtures (colour `{options.get('color_mix')}`, geometric `{options.get('geometric_mix')}`)")
    if options.get("tone"):
        notes.append(
            f"camera-like tone changes (exposure, white balance, gamma, offset) instead of the colour transforms on {options.get('tone'):g} "
            "of the tuples (`--tone`)"
        )
    if options.get("ema_kimg"):
        notes.append(
            f"the weights are a moving average of G's (`--ema-kimg {options.get('ema_kimg'):g}`: half-life {options.get('ema_kimg'):g} thousand samples, "
            "as StyleGAN2-ADA's G_ema)"
        )
    if options.get("lr_rampdown"):
        ramp = options["lr_rampdown"]
        steps = options.get("steps")
        start = f" (from step {int(steps) - int(round(ramp * steps)):,})" if isinstance(steps, int) else ""
        notes.append(
            f"the learning rates fall to 0 along a half cosine over the last {ramp:g} of the steps{start} "
            f"(`--lr-rampdown {ramp:g}`; the paper's are constant)"
        )
    if int(options.get("echo", 1) or 1) > 1:
        echo = int(options["echo"])
        notes.append(
            f"data echoing (`--echo {echo}`, Choi et al. 2019): each fresh tuple serves {echo} steps, 16 steps apart, mirrored "
            "left to right on every other use"
        )
    if options.get("beta1", 0.0) != 0.0 or options.get("beta2", 0.9) != 0.9:
        notes.append(f"Adam betas ({options.get('beta1')}, {options.get('beta2')}) instead of the paper's (0, 0.9)")
    return notes


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def figures_table(figures: Mapping[str, Any]) -> list[str]:
    """Markdown rows of a free-form figures dict: ``| figure | value |``, or with groups (dicts of
    figures) ``| group | figure | value |``."""
    if not figures:
        return []
    if not any(isinstance(v, Mapping) for v in figures.values()):
        return ["| figure | value |", "|---|---|"] + [f"| {_cell(k)} | {_cell(v)} |" for k, v in figures.items()]
    rows = ["| group | figure | value |", "|---|---|---|"]
    for group, value in figures.items():
        if isinstance(value, Mapping):
            rows += [f"| {_cell(group)} | {_cell(k)} | {_cell(v)} |" for k, v in value.items()]
        else:
            rows.append(f"| | {_cell(group)} | {_cell(value)} |")
    return rows


def render_card(
    entry: ZooEntry,
    *,
    options: Mapping[str, Any] | None = None,
    api_only: Mapping[str, Any] | None = None,
    parameters: int | None = None,
) -> str:
    """The model card of ``entry`` (markdown).

    Parameters
    ----------
    entry : ZooEntry
    options : mapping, optional
        The run's recorded training options (for the beyond-the-paper notes).
    api_only : mapping, optional
        Recorded options without a command-line flag (:func:`pastenet.zoo.command.api_only_options`).
    parameters : int, optional
        G's number of weights.
    """
    m, options = entry.model, dict(options or {})
    res = m.get("resolution")
    arch = (
        f"G widths {'-'.join(str(c) for c in m.get('channels', []))}, dilations {'-'.join(str(d) for d in m.get('dilations', []))}, "
        f"output head `{m.get('output', 'residual')}`, map stride {m.get('map_stride', 1)}, noise layers {'on' if m.get('noise', True) else 'off'}"
    )
    if parameters is not None:
        arch += f", {parameters:,} weights"
    lines = [
        f"# {entry.name}",
        "",
        entry.description or "A copy-paste generator.",
        "",
        "| | |",
        "|---|---|",
        f"| preset | `{entry.preset}` |" if entry.preset else "| preset | (not recorded) |",
        f"| architecture | {arch} |",
        f"| trained at | {res}x{res} tuples; photos' shorter side {m.get('work_side') or 'unknown'} px (`--scale auto` shrinks larger photos to it) |",
        f"| steps | {entry.steps} |",
        f"| data | {_cell(entry.data)} |",
        f"| licence | {_cell(entry.licence)} |",
        f"| weights | `weights/{entry.file}`, {entry.size // 1024 if entry.size else '?'} KB, sha256 `{entry.sha256}` |",
        f"| created | {entry.created}{f' from run `{entry.run}`' if entry.run else ''}"
        f"{f' (pastenet {entry.pastenet_version})' if entry.pastenet_version else ''} |",
        "",
    ]
    notes = beyond_the_paper(m, options)
    if notes:
        lines += ["## Beyond the paper", ""] + [f"- {n}" for n in notes]
        if m.get("output") == "affine":
            lines += ["- at paste time the Poisson seam (`--seam poisson`) is on by default for colour-map models",
                      "- at paste time G's map is averaged with its mirrored map of the mirrored input (`--ensemble auto`: "
                      "a horizontal-flip self-ensemble, on by default for colour-map models)"]
        if m.get("prior") == "poisson":
            lines += [context_note()]
        lines += [""]
    lines += ["## Training", "", "```bash", entry.command or "(not recorded)", "```", ""]
    if api_only:
        lines += ["Options set through the Python API (no command-line flag): "
                  + ", ".join(f"`{k}={v!r}`" for k, v in api_only.items()) + ".", ""]
    if entry.figures:
        lines += ["## Measured figures", ""] + figures_table(entry.figures) + [""]
    lines += [
        "## Use",
        "",
        "```bash",
        f"pastenet paste --model {entry.name} --target t.png --source s.png --mask m.png -o out.png",
        f"pastenet demo --model {entry.name} -o demo.png",
        "```",
        "",
        "```python",
        "from pastenet.paste import load_generator, paste, read_image, write_image",
        "",
        f'model = load_generator("{entry.name}")    # the shipped weights, sha256 checked',
        'out = paste(model, read_image("t.png"), read_image("s.png"), read_image("m.png"))',
        "```",
        "",
    ]
    if entry.golden:
        lines += [f"Golden output: `golden/{entry.golden}` (`pastenet.zoo.golden`: the astronaut and chelsea photos of "
                  "scikit-image, pasted with the default options); the test suite recomputes it.", ""]
    return "\n".join(lines)
