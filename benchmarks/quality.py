"""Quality benchmark (issue 5): the network against Poisson image editing and other baselines.

One command produces everything in ``--out`` (default ``benchmarks/results/quality``)::

    PASTEGEN_DATA_ROOT=../shared/data python benchmarks/quality.py [--model RUN_OR_CHECKPOINT] [--quick]

- ``cases.csv``: the real pastes (no ground truth) at the working size: the 30 cases of
  ``cases/crosspaste.csv`` (group ``crosspaste``) and the 48 cross-person landmark cases of
  ``faces/test`` (group ``crossperson``, :mod:`benchmarks.evaluation.landmark_cases`), every
  method's no-reference metrics (seam jump, seam gradient error, detail correlation and
  amplitude, ring ΔE, outside changed) and the ``target (own border)`` reference row; sheets
  zoomed on the region, ``cases-<k>.jpg`` and ``crossperson-<k>.jpg``;
- ``mild.csv`` and ``mild.jpg``: the same-photo mild-change test (:mod:`benchmarks.evaluation.mild`):
  mean L1 to the original inside the mask;
- ``samples.csv``: every metric of every method on every sample of the frozen evaluation set
  (faces and scenes test photos, sweeps over σ and over the colour transforms' strength);
- ``summary.md``: tables methods x metrics x σ (and x colour strength), the real cases, speed;
- ``plot-<dataset>-<sweep>.png``: each metric against σ / colour strength;
- ``sheet-<dataset>.jpg``: input X, every method and the ground truth on fixed samples;
- ``speed.csv``: time per image of every method at 512x512 and 1024x2048 (CPU, and CUDA when present);
- ``evalset.json``: the SHA-256 of every setting's arrays; a rerun checks them (``--refreeze``
  accepts a changed set);
- ``results.json``: the machine, the command, the checkpoint, the summary and the speed rows.

Several networks can be compared: ``--model A --model B`` (or ``--model A,B``) with
``--model-label a,b`` (method columns; default ``network``) and ``--model-name`` (default: the
weights file's stem); the report names each with the SHA-256 of the weights file loaded.
``--only-real`` runs the real cases and the mild test only (no synthetic sweeps, no speed): the
fast evaluation of an ablation.

``--readme benchmarks/README.md`` rewrites the README's Quality section (between its markers)
from the same figures. The evaluation set and the metrics are described in
``benchmarks/evaluation/evalset.py`` and ``benchmarks/evaluation/metrics.py``; the baselines in
``benchmarks/baselines/``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.evaluation import evalset, metrics, mild, networks, realrun, report, sheets, speed  # noqa: E402
from benchmarks.evaluation.methods import LABELS, build_methods, prepare_target  # noqa: E402

# The generator the committed results use: the model zoo's faces model (its card, with the exact
# training command: `pastenet models faces-poisson-256`). Until issue 9 it was the `tiny` preset
# trained on the CPU for 5,483 steps at
# 256x256 on faces/train (`pastenet train --stream --dataset faces --resolution 256 --sigma 7.5
# --preset tiny`), exported without D.
DEFAULT_MODEL = REPO / "pastenet" / "zoo" / "weights" / "faces-poisson-256.safetensors"
PAPER_TINY = REPO / "benchmarks" / "results" / "quality" / "tiny-faces-256-step5483.safetensors"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "quality"
QUIET_LOCK = Path("/tmp/quiet.lock")
README_BEGIN = "<!-- quality:begin (written by benchmarks/quality.py --readme) -->"
README_END = "<!-- quality:end -->"
#: Sheet file stems of the real-case groups.
SHEET_NAMES = {"crosspaste": "cases", "crossperson": "crossperson"}


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", action="append", default=None,
                   help="run folder, checkpoint folder or weights file of a network (a run: its latest checkpoint); "
                        f"repeat it or give a comma list to compare several (default: {DEFAULT_MODEL.relative_to(REPO)} when present)")
    p.add_argument("--model-label", action="append", default=None,
                   help="method column of each --model, in order (repeat or comma list; default 'network', or network-1, network-2, ...)")
    p.add_argument("--model-name", action="append", default=None,
                   help="name of each --model in the report, in order (default: its weights file's stem)")
    p.add_argument("--no-network", action="store_true", help="baselines only")
    p.add_argument("--only-real", action="store_true", help="the real cases and the mild test only (no synthetic sweeps, no speed)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="output folder")
    p.add_argument("--data-root", default=None, help="pastegen data root (default: PASTEGEN_DATA_ROOT or ../shared/data)")
    p.add_argument("--datasets", default="faces,scenes", help="comma-separated: faces, scenes, sample (the wheels' photos)")
    p.add_argument("--size", type=int, default=256, help="working size of the evaluation set (the checkpoint's resolution)")
    p.add_argument("--seed", type=int, default=2019, help="root seed of the evaluation set")
    p.add_argument("--sigmas", default="0,5,10,15,20", help="σ sweep, pixels at 512 (scaled to --size)")
    p.add_argument("--strengths", default="0,0.25,0.5,0.75,1", help="colour-strength sweep (scale of the colour ranges)")
    p.add_argument("--color-sigma", type=float, default=10.0, help="σ (px at 512) of the colour sweep")
    p.add_argument("--n", type=int, default=80, help="faces samples per setting")
    p.add_argument("--n-scenes", type=int, default=40, help="scenes samples per σ (the colour sweep is on faces only)")
    p.add_argument("--band", type=int, default=3, help="k: width in pixels of the seam band")
    p.add_argument("--sheet-samples", type=int, default=6, help="samples in each comparison sheet")
    p.add_argument("--sheet-sigma", type=float, default=10.0, help="σ (px at 512) of the samples shown in the sheets")
    p.add_argument("--no-cases", action="store_true", help="skip the real cases")
    p.add_argument("--no-mild", action="store_true", help="skip the same-photo mild-change test")
    p.add_argument("--n-mild", type=int, default=mild.N, help="photos of the mild-change test")
    p.add_argument("--no-speed", action="store_true", help="skip the speed part")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per method and size (median)")
    p.add_argument("--refreeze", action="store_true", help="accept a changed evaluation set (rewrite its hashes)")
    p.add_argument("--readme", default=None, help="rewrite this README's Quality section from the results")
    p.add_argument("--torch-threads", type=int, default=1,
                   help="torch CPU threads for the network (1: steadiest on a shared machine; 0: torch's default)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 2 samples, 2 σ, 1 strength, 2 cases per real group, 4 mild photos, small speed inputs")
    a = p.parse_args(argv)
    a.models = networks.split_list(a.model) or ([str(DEFAULT_MODEL)] if DEFAULT_MODEL.exists() else [])
    a.model_labels, a.model_names = networks.split_list(a.model_label), networks.split_list(a.model_name)
    if a.quick:
        a.n, a.n_scenes, a.repeats, a.n_mild = 2, 1, 1, 4
        a.sigmas, a.strengths, a.sheet_samples = "0,20", "0.5", 2
        a.sheet_sigma = 0.0
    return a


def _wait_quiet() -> None:
    """Pause while another process is timing (``/tmp/quiet.lock``)."""
    if QUIET_LOCK.exists():
        print("  /tmp/quiet.lock exists: pausing until it is gone", flush=True)
        while QUIET_LOCK.exists():
            time.sleep(5)


def _settings(a: argparse.Namespace) -> list[evalset.Setting]:
    out = []
    sigmas, strengths = _floats(a.sigmas), _floats(a.strengths)
    for ds in [d.strip() for d in a.datasets.split(",") if d.strip()]:
        n = a.n_scenes if ds == "scenes" else a.n
        for s in sigmas:
            out.append(evalset.Setting(ds, "sigma", s, 1.0, n, a.size, a.seed))
        if ds != "scenes":
            for c in strengths:
                out.append(evalset.Setting(ds, "color", a.color_sigma, c, n, a.size, a.seed))
    return out


def run_synthetic(a, methods, out: Path, root) -> tuple[list[dict], dict]:
    rows: list[dict] = []
    hashes, settings = {}, {}
    shown: dict[str, list] = {}
    for st in _settings(a):
        t0 = time.perf_counter()
        samples = list(evalset.generate(st, root))
        hashes[st.key] = evalset.setting_hash(samples)
        settings[st.key] = st
        show = st.sweep == "sigma" and st.sigma512 == a.sheet_sigma
        for s in samples:
            _wait_quiet()
            cache: dict = {}
            outputs = {}
            for name, f in methods.items():
                target = prepare_target(name, s.I_T, s.M, cache)
                t1 = time.perf_counter()
                y = f(target, s.S, s.M)
                dt = time.perf_counter() - t1
                m = metrics.all_metrics(y, s.I, s.I_T, s.M, k=a.band)
                rows.append({"dataset": st.dataset, "sweep": st.sweep, "sigma512": st.sigma512, "sigma_px": st.sigma,
                             "strength": st.strength, "index": s.index, "source": s.source_name,
                             "mask_frac": float(s.M.mean()), "method": name, **m, "seconds": dt})
                if show and s.index < a.sheet_samples:
                    outputs[name] = y
            if outputs:
                shown.setdefault(st.dataset, []).append((s, outputs))
        print(f"  {st.key}: {len(samples)} samples, {time.perf_counter() - t0:.1f} s", flush=True)
    evalset.check_frozen(out / "evalset.json", hashes, settings, refreeze=a.refreeze)
    for ds, items in shown.items():
        names = list(methods)
        grid = [[sheets.outline(s.X, s.M)] + [o[n] for n in names] + [s.I] for s, o in items]
        labels = [f"{s.source_name} sigma={s.setting.sigma512:g} (512 px)" for s, _ in items]
        sheets.sheet(out / f"sheet-{ds}.jpg", grid, ["input X"] + [LABELS.get(n, n) for n in names] + ["ground truth"], labels)
    return rows, hashes


def _clear(out: Path, *stems: str) -> None:
    """Remove the numbered sheets ``<stem>-<k>.jpg`` of an earlier run (a smaller run writes fewer)."""
    for stem in stems:
        for f in out.glob(f"{stem}-*.jpg"):
            if f.stem[len(stem) + 1:].isdigit():
                f.unlink()


def run_real(a, methods, out: Path, root) -> list[dict]:
    """The real cases of both groups at the working size (:func:`benchmarks.evaluation.realrun.real_rows`), with sheets."""
    _clear(out, "cases", "crossperson")
    timed = {name: _quiet(f) for name, f in methods.items()}
    return realrun.real_rows(timed, root, size=a.size, limit=2 if a.quick else None, k=a.band, sheet_dir=out,
                             sheet_names=SHEET_NAMES, labels=LABELS, cell=128)


def run_mild(a, methods, out: Path, root) -> list[dict]:
    """The same-photo mild-change test at the working size, with its sheet ``mild.jpg``."""
    timed = {name: _quiet(f) for name, f in methods.items()}
    return realrun.mild_rows(timed, root, n=a.n_mild, size=a.size, sheet=out / "mild.jpg", labels=LABELS, cell=128)


def _quiet(f):
    """``f`` that first waits while another process is timing (:func:`_wait_quiet`)."""
    def run(target, source, mask):
        _wait_quiet()
        return f(target, source, mask)

    return run


def run_speed(a, nets: list, methods, root) -> list[dict]:
    """Time per image of every method (CPU), each network also on the whole image, and on CUDA when present."""
    use_sample = a.datasets.strip() == "sample"
    sizes = ((128, 128), (256, 512)) if a.quick else ((512, 512), (1024, 2048))
    inputs = speed.speed_inputs(root, sizes=sizes, use_sample=use_sample)
    _wait_quiet()
    timed = dict(methods)
    loaded = [n for n in nets if n.method is not None]
    try:
        from pastenet.paste import load_generator, paste
    except ImportError:
        loaded = []
    for n in loaded:
        pm = load_generator(n.note, device="cpu")
        timed[f"{n.label} (whole image)"] = lambda t, s, m, pm=pm: paste(pm, t, s, m, roi=False)
    rows = speed.time_methods(timed, inputs, repeats=a.repeats)
    for r in rows:
        r["device"] = "cpu"
    try:
        import torch
    except ImportError:
        return rows
    if loaded and torch.cuda.is_available():
        gpu = {}
        for n in loaded:
            pm = load_generator(n.note, device="cuda")
            gpu[n.label] = lambda t, s, m, pm=pm: paste(pm, t, s, m)
            gpu[f"{n.label} (whole image)"] = lambda t, s, m, pm=pm: paste(pm, t, s, m, roi=False)
        for r in speed.time_methods(gpu, inputs, repeats=max(a.repeats, 5)):
            r["device"] = "cuda:" + torch.cuda.get_device_name(0)
            rows.append(r)
    return rows


def _machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(), "processor": platform.processor()}
    try:
        import cv2
        import scipy
        import skimage

        info.update(numpy=np.__version__, scipy=scipy.__version__, opencv=cv2.__version__, skimage=skimage.__version__)
        import torch

        info.update(torch=torch.__version__, cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    except ImportError:
        pass
    return info


def _network_lines(nets: list, none_note: str = "--no-network") -> list[str]:
    """One paragraph per network: label, name, the weights file loaded and its SHA-256, the training."""
    lines = []
    for n in nets:
        if n.method is None:
            lines += [f"Network `{n.label}`: not evaluated ({n.note}).", ""]
            continue
        ck = n.info
        where = Path(str(ck.get("weights", ck.get("path"))))
        try:
            where = where.resolve().relative_to(REPO)
        except ValueError:
            pass
        step = f", step {ck['step']}" if ck.get("step") is not None else ""
        train = (f" (`{ck.get('preset')}` preset trained at {ck.get('resolution')}x{ck.get('resolution')} on {ck.get('dataset')}, "
                 f"σ = {ck.get('sigma')})") if ck.get("preset") else ""
        sha = f", sha256 `{ck['weights_sha256']}`" if ck.get("weights_sha256") else ""
        lines += [f"Network `{n.label}`: **{ck.get('name')}**, `{where}`{sha}{step}{train}.", ""]
        if where == DEFAULT_MODEL.relative_to(REPO):
            lines += ["This is the model zoo's `faces-poisson-256` (beyond the paper: affine colour-map head applied to a Poisson "
                      "blend, trained towards the photo's own colours, strength mixtures, masked/border L1, no adversarial term, "
                      "weight averaging, learning-rate ramp; pasted with the Poisson seam, the map at every frequency and scale-aware mode), "
                      "trained for 22,000 steps with camera-like tone changes on half the tuples on 2 CPU cores on "
                      "`faces/train` + `faces-wild/train`; its card gives the command. "
                      "It never saw street scenes (the zoo's `scenes-poisson-256` did: `benchmarks/results/zoo/`).", ""]
        if where == PAPER_TINY.relative_to(REPO):
            lines += ["This file is the generator of the `tiny` preset trained on 2 CPU cores for 5,483 steps (batch 5, "
                      "about 90 minutes of wall time, shared with other jobs) on `faces/train` at 256x256, σ = 7.5, exported without D: "
                      "`pastenet train --stream --dataset faces --resolution 256 --sigma 7.5 --preset tiny --batch 5`. "
                      "It never saw street scenes.", ""]
    return lines or [f"Network: not evaluated ({none_note}).", ""]


def _outside_note(rows: list[dict]) -> str:
    bad = sum(int(r.get("outside_changed", 0)) for r in rows)
    return ("Every method leaves the outside of the mask unchanged (checked: 0 pixels)." if not bad else
            f"**{bad} pixels outside the masks were changed** (column `outside_changed` of `cases.csv`).")


def _real_lines(a, real_rows: list[dict]) -> list[str]:
    """The real-case tables: each group, then all."""
    present = list(dict.fromkeys(r["group"] for r in real_rows))
    titles = {"crosspaste": "`cases/crosspaste.csv` (box masks)",
              "crossperson": "cross-person landmark cases of `faces/test` (mouth, eyes, nose, inner face; hull, ellipse, rotated rectangle)"}
    lines = [f"### Real cases ({a.size}x{a.size}, no ground truth)", "",
             "Mean over the cases (NaN from degenerate masks left out). Seam jump: mean over the 4-neighbour edges crossing the mask's border of the "
             "channel-mean |Y_in − Y_out|; seam grad err: mean ||∇Y| − |∇target|| within "
             f"{a.band} px of the border, both sides; detail corr / amplitude: Pearson correlation and std ratio of the "
             "luma high-pass (luma − `scipy.ndimage.gaussian_filter` σ = 3) of the output and the placed source inside the mask "
             "eroded by 4 px (1 / 1: the source's detail kept); ring ΔE: CIE76 distance between the output's mean Lab in the 6 px "
             "ring just inside the mask and the target's in the 6 px ring just outside. `target (own border)`: the target "
             "itself across the same border (its seam jump and ring ΔE are what a paste of matching content would show). "
             + _outside_note(real_rows), ""]
    for g in present:
        lines += [f"{titles.get(g, g)}:", "", realrun.real_table(real_rows, g, LABELS), ""]
    if len(present) > 1:
        lines += ["All:", "", realrun.real_table(real_rows, None, LABELS), ""]
    sheets_ = ", ".join(f"`{SHEET_NAMES.get(g, g)}-*.jpg`" for g in present)
    lines += [f"Sheets zoomed on each region (target with the mask outlined, source, every method): {sheets_}.", ""]
    return lines


def _mild_lines(a, mild_rows: list[dict]) -> list[str]:
    return [f"### Same-photo mild change ({a.size}x{a.size})", "",
            "A held-out photo I of `faces/test`, a landmark mask (a rotated rectangle where there are no landmarks) and a "
            f"source = I with a mild change (per-channel gain in [{mild.GAIN[0]:g}, {mild.GAIN[1]:g}], gamma in "
            f"[{mild.GAMMA[0]:g}, {mild.GAMMA[1]:g}], offset in [{mild.OFFSET[0]:g}, {mild.OFFSET[1]:g}] levels), pasted into I "
            "itself: mean L1 (0-255) to I inside the mask; sheet `mild.jpg`.", "",
            realrun.mild_table(mild_rows, LABELS), ""]


def write_summary(out: Path, a, summary: dict, real_rows, mild_rows, speed_rows, nets: list, command: str, hashes: dict,
                  elapsed: float = 0.0) -> str:
    """The Quality section: networks, the real cases, the mild test, the synthetic sweeps, speed (Markdown)."""
    took = f"{elapsed / 60:.0f} minutes" if elapsed >= 90 else f"{elapsed:.0f} s"
    lines = ["## Quality", "", f"`benchmarks/quality.py` (issue 5) measures the network against the baselines of `benchmarks/baselines/`; "
             f"this section is written by the command below ({took} on {os.cpu_count()} shared CPU cores; outputs in `results/quality/`):",
             "", "```bash", command, "```", ""]
    lines += _network_lines(nets, "--no-network" if a.no_network else "no --model given")
    if real_rows:
        lines += _real_lines(a, real_rows)
    if mild_rows:
        lines += _mild_lines(a, mild_rows)
    if summary:
        lines += [
            f"### Synthetic evaluation set ({a.size}x{a.size}, with ground truth)", "",
            f"pastegen tuples of the held-out test photos, seed {a.seed}, frozen by "
            f"SHA-256 in `evalset.json` ({len(hashes)} settings). σ is in pixels at 512 (scaled to the working size); "
            "colour strength s scales the ranges of both colour transforms towards the identity (s = 1: the paper's). "
            "Every method gets the target I_T = I·(1−M) (the mixed-gradient ones a membrane-filled I_T) and the whole "
            f"transformed photo T(I) as source. Metrics on the 0-255 scale as iHarmony4 defines them; seam band k = {a.band} px.",
            "",
        ]
    for key in summary:
        ds, sweep = key
        n = max(summary[key]["n"].values())
        what = "σ sweep (colour strength 1)" if sweep == "sigma" else f"colour-strength sweep (σ = {a.color_sigma:g})"
        lines += [f"#### {ds}: {what}, {n} samples per setting", "", "PSNR (dB) / fMSE, mean over samples:", "",
                  report.headline_table(summary, key), "", f"![{ds} {sweep}](results/quality/plot-{ds}-{sweep}.png)", ""]
    if speed_rows:
        lines += ["### Speed", "", f"Milliseconds per image (median of {a.repeats} after a warm-up), a mask of about 100-150 px side; "
                  f"torch on {a.torch_threads or 'its default number of'} CPU thread(s); the network pastes "
                  "a window around the mask (`roi=True`) unless marked whole image:", "", report.speed_table(speed_rows), ""]
    return "\n".join(lines)


#: Options that change the figures, echoed in the report's command when not at their defaults.
ECHOED = ("datasets", "size", "seed", "sigmas", "strengths", "color_sigma", "n", "n_scenes", "n_mild", "band",
          "no_cases", "no_mild", "no_speed", "repeats")


def _command(a) -> str:
    """The command line that reproduces this run (data root as in the README; options at their defaults left out)."""
    parts = ["PASTEGEN_DATA_ROOT=../shared/data python benchmarks/quality.py"]
    parts += [flag for flag, on in (("--quick", a.quick), ("--only-real", a.only_real), ("--no-network", a.no_network)) if on]
    quick = parse_args(["--quick"]) if a.quick else parse_args([])
    for dest in ECHOED:
        v = getattr(a, dest)
        if v != getattr(quick, dest):
            flag = "--" + dest.replace("_", "-")
            parts.append(flag if v is True else f"{flag} {v}")
    if not a.no_network and a.models != [str(DEFAULT_MODEL)]:
        parts += [f"--model {m}" for m in a.models]
    if a.model_labels:
        parts.append("--model-label " + ",".join(a.model_labels))
    if a.model_names:
        parts.append("--model-name " + ",".join(a.model_names))
    if a.readme:
        parts.append(f"--readme {a.readme}")
    return " ".join(parts)


def update_readme(path: Path, text: str) -> None:
    body = f"{README_BEGIN}\n{text.rstrip()}\n{README_END}\n"
    old = path.read_text() if path.exists() else ""
    if README_BEGIN in old and README_END in old:
        head, rest = old.split(README_BEGIN, 1)
        _, tail = rest.split(README_END, 1)
        new = head + body.rstrip("\n") + tail
    else:
        new = old.rstrip("\n") + "\n\n" + body
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(new)
    os.replace(tmp, path)


def main(argv=None) -> int:
    a = parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(a.data_root) if a.data_root else evalset.data_root()
    t_start = time.perf_counter()
    if a.torch_threads > 0 and not a.no_network:
        try:
            import torch

            torch.set_num_threads(a.torch_threads)
        except ImportError:
            pass
    specs = [] if a.no_network else networks.network_specs(a.models, a.model_labels, a.model_names)
    nets = networks.load_networks(specs, device="cpu")  # each note: the checkpoint actually loaded
    for n in nets:
        print(f"{n.label}: {n.note}" + (f" (sha256 {n.info.get('weights_sha256', '?')[:12]})" if n.method else ""), flush=True)
    methods = build_methods({n.label: n.method for n in nets if n.method is not None})
    bad = 0

    real_rows: list[dict] = []
    if not a.no_cases:
        print("real cases:", flush=True)
        t0 = time.perf_counter()
        real_rows = run_real(a, methods, out, root)
        if real_rows:
            report.write_csv(out / "cases.csv", real_rows)
            n_cases = len({(r["group"], r["case"]) for r in real_rows})
            print(f"  {n_cases} cases, {time.perf_counter() - t0:.1f} s", flush=True)
        else:
            print(f"  skipped: neither {root / 'cases' / 'crosspaste.csv'} nor {root / 'faces' / 'landmarks.json'}", flush=True)
        bad += sum(int(r.get("outside_changed", 0)) for r in real_rows)

    mild_rows: list[dict] = []
    if not a.no_mild:
        if (root / "faces" / "test").is_dir() and (root / "faces" / "landmarks.json").is_file():
            print("mild-change test:", flush=True)
            t0 = time.perf_counter()
            mild_rows = run_mild(a, methods, out, root)
            report.write_csv(out / "mild.csv", mild_rows)
            print(f"  {len({r['case'] for r in mild_rows})} photos, {time.perf_counter() - t0:.1f} s", flush=True)
        else:
            print(f"mild-change test skipped: no {root / 'faces' / 'test'} with landmarks", flush=True)

    rows: list[dict] = []
    summary: dict = {}
    hashes: dict = {}
    if not a.only_real:
        print("synthetic evaluation set:", flush=True)
        rows, hashes = run_synthetic(a, methods, out, root)
        report.write_csv(out / "samples.csv", rows)
        summary = report.summarise(rows)
        for key in summary:
            ds, sweep = key
            report.plot_sweep(out / f"plot-{ds}-{sweep}.png", summary, key, f"{ds}, {'σ' if sweep == 'sigma' else 'colour strength'} sweep")
        bad += sum(r["outside_changed"] for r in rows)
    if bad:
        print(f"WARNING: {bad} pixels outside the masks were changed", flush=True)

    speed_rows: list[dict] = []
    if not a.no_speed and not a.only_real:
        print("speed:", flush=True)
        speed_rows = run_speed(a, nets, methods, root)
        report.write_csv(out / "speed.csv", speed_rows)

    command = _command(a)
    text = write_summary(out, a, summary, real_rows, mild_rows, speed_rows, nets, command, hashes, time.perf_counter() - t_start)
    full = [text, ""] + (["## All metrics", ""] if summary else [])
    for key in summary:
        full += [f"### {key[0]}, {key[1]} sweep", "", report.sweep_tables(summary, key), ""]
    (out / "summary.md").write_text("\n".join(full) + "\n")
    first = next((n for n in nets if n.method is not None), None)
    results = {
        "benchmark": "quality",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(),
        "command": command,
        "argv": sys.argv[1:] if argv is None else list(argv),
        "checkpoint": first.info if first else {},
        "network": first.note if first else ("--no-network" if a.no_network else "no --model given"),
        "networks": [{"label": n.label, "note": n.note, **n.info} for n in nets],
        "evalset": hashes,
        "summary": {f"{k[0]}/{k[1]}": {"n": {str(x): n for x, n in v["n"].items()},
                                        "mean": {m: {met: {str(x): val for x, val in d.items()} for met, d in mm.items()} for m, mm in v["mean"].items()}}
                    for k, v in summary.items()},
        "cases": real_rows,
        "mild": mild_rows,
        "speed": speed_rows,
        "outside_changed_total": int(bad),
        "seconds": time.perf_counter() - t_start,
    }
    (out / "results.json").write_text(json.dumps(results, indent=1, default=_json_default) + "\n")
    if a.readme:
        update_readme(Path(a.readme), text.replace("](results/quality/", f"]({os.path.relpath(out, Path(a.readme).resolve().parent)}/"))
    print(text)
    print(f"done in {time.perf_counter() - t_start:.0f} s; outputs in {out}", flush=True)
    return 0


def _json_default(v):
    """NaN-safe JSON of numpy scalars (NaN itself is written as JSON's NaN token, as before)."""
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        sys.exit(main())
