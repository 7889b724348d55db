"""Quality benchmark (issue 5): the network against Poisson image editing and other baselines.

One command produces everything in ``--out`` (default ``benchmarks/results/quality``)::

    PASTEGEN_DATA_ROOT=../shared/data python benchmarks/quality.py [--model RUN_OR_CHECKPOINT] [--quick]

- ``samples.csv``: every metric of every method on every sample of the frozen evaluation set
  (faces and scenes test photos, sweeps over σ and over the colour transforms' strength);
- ``summary.md``: tables methods x metrics x σ (and x colour strength), the real cases, speed;
- ``plot-<dataset>-<sweep>.png``: each metric against σ / colour strength;
- ``sheet-<dataset>.jpg``: input X, every method and the ground truth on fixed samples;
- ``cases.csv`` and ``cases-<k>.jpg``: the 30 real cases of ``cases/crosspaste.csv`` (no ground
  truth: seam metrics and the outside-unchanged check), sheets of every method;
- ``speed.csv``: time per image of every method at 512x512 and 1024x2048 (CPU, and CUDA when present);
- ``evalset.json``: the SHA-256 of every setting's arrays; a rerun checks them (``--refreeze``
  accepts a changed set);
- ``results.json``: the machine, the command, the checkpoint, the summary and the speed rows.

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

from benchmarks.evaluation import cases as _cases  # noqa: E402
from benchmarks.evaluation import evalset, metrics, report, sheets, speed  # noqa: E402
from benchmarks.evaluation.methods import LABELS, build_methods, load_network, prepare_target  # noqa: E402

# The generator the committed results used: the `tiny` preset trained on the CPU for 5,483 steps at
# 256x256 on faces/train (`pastenet train --stream --dataset faces --resolution 256 --sigma 7.5
# --preset tiny`), exported without D.
DEFAULT_MODEL = REPO / "benchmarks" / "results" / "quality" / "tiny-faces-256-step5483.safetensors"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "quality"
QUIET_LOCK = Path("/tmp/quiet.lock")
README_BEGIN = "<!-- quality:begin (written by benchmarks/quality.py --readme) -->"
README_END = "<!-- quality:end -->"


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default=str(DEFAULT_MODEL) if DEFAULT_MODEL.exists() else None,
                   help="run folder, checkpoint folder or weights.safetensors of the network (its latest checkpoint)")
    p.add_argument("--no-network", action="store_true", help="baselines only")
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
    p.add_argument("--no-speed", action="store_true", help="skip the speed part")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per method and size (median)")
    p.add_argument("--refreeze", action="store_true", help="accept a changed evaluation set (rewrite its hashes)")
    p.add_argument("--readme", default=None, help="rewrite this README's Quality section from the results")
    p.add_argument("--torch-threads", type=int, default=1,
                   help="torch CPU threads for the network (1: steadiest on a shared machine; 0: torch's default)")
    p.add_argument("--quick", action="store_true", help="a smoke run: 2 samples, 2 σ, 1 strength, 2 cases, small speed inputs")
    a = p.parse_args(argv)
    if a.quick:
        a.n, a.n_scenes, a.repeats = 2, 1, 1
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


def _checkpoint_info(model: str | None) -> dict:
    if not model:
        return {}
    info: dict = {"path": str(model)}
    try:
        from pastenet.checkpoint import resolve_checkpoint

        ck = resolve_checkpoint(model)
        info["checkpoint"] = str(ck)
        meta = json.loads((ck / "meta.json").read_text())
        info["step"] = meta.get("step")
        info["weights_sha256"] = meta.get("sha256", {}).get("weights.safetensors") or meta.get("weights_sha256")
        info["path"] = str(ck.parent.parent) if ck.parent.name == "checkpoints" else str(ck)
        opts = ck.parent.parent / "options.json"
        if opts.is_file():
            o = json.loads(opts.read_text())
            info["preset"], info["resolution"], info["sigma"], info["dataset"] = o.get("preset"), o.get("resolution"), o.get("sigma"), o.get("dataset")
    except Exception as e:  # informational only
        info["error"] = str(e)
    return info


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
        sheets.sheet(out / f"sheet-{ds}.jpg", grid, ["input X"] + [LABELS[n] for n in names] + ["ground truth"], labels)
    return rows, hashes


def run_cases(a, methods, out: Path, root) -> list[dict]:
    cases = _cases.load_cases(root, a.size, limit=2 if a.quick else None)
    rows, grid, labels = [], [], []
    for c in cases:
        _wait_quiet()
        row_imgs = [sheets.outline(c.target, c.mask), c.source]
        for name, f in methods.items():
            y = f(c.target, c.source, c.mask)
            rows.append({"case": c.name, "region": c.region, "method": name, **metrics.no_reference_metrics(y, c.target, c.mask, k=a.band)})
            row_imgs.append(y)
        y0, y1, x0, x1 = sheets.crop_box(c.mask, grow=0.6)
        grid.append([im[y0:y1, x0:x1] for im in row_imgs])
        labels.append(c.name)
    cols = ["target (mask)", "source"] + [LABELS[n] for n in methods]
    per = 10
    for k in range(0, len(grid), per):
        sheets.sheet(out / f"cases-{k // per + 1}.jpg", grid[k:k + per], cols, labels[k:k + per], cell=128)
    return rows


def run_speed(a, network_model: str | None, methods, root) -> list[dict]:
    use_sample = a.datasets.strip() == "sample"
    sizes = ((128, 128), (256, 512)) if a.quick else ((512, 512), (1024, 2048))
    inputs = speed.speed_inputs(root, sizes=sizes, use_sample=use_sample)
    _wait_quiet()
    timed = dict(methods)
    if "network" in timed and network_model:
        try:
            from pastenet.paste import load_generator, paste

            pm = load_generator(network_model, device="cpu")
            timed["network (whole image)"] = lambda t, s, m: paste(pm, t, s, m, roi=False)
        except Exception as e:  # pragma: no cover - informational
            print(f"  network (whole image) not timed: {e}")
    rows = speed.time_methods(timed, inputs, repeats=a.repeats)
    for r in rows:
        r["device"] = "cpu"
    try:
        import torch

        if network_model and torch.cuda.is_available():
            from pastenet.paste import load_generator, paste

            pm = load_generator(network_model, device="cuda")
            gpu = {"network": lambda t, s, m: paste(pm, t, s, m), "network (whole image)": lambda t, s, m: paste(pm, t, s, m, roi=False)}
            for r in speed.time_methods(gpu, inputs, repeats=max(a.repeats, 5)):
                r["device"] = "cuda:" + torch.cuda.get_device_name(0)
                rows.append(r)
    except ImportError:
        pass
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


def write_summary(out: Path, a, summary: dict, case_rows, speed_rows, ck: dict, network_note: str, command: str, hashes: dict,
                  elapsed: float = 0.0) -> str:
    took = f"{elapsed / 60:.0f} minutes" if elapsed >= 90 else f"{elapsed:.0f} s"
    lines = ["## Quality", "", f"`benchmarks/quality.py` (issue 5) measures the network against the baselines of `benchmarks/baselines/`; "
             f"this section is written by the command below ({took} on {os.cpu_count()} shared CPU cores; outputs in `results/quality/`):",
             "", "```bash", command, "```", ""]
    if ck:
        step = f", step {ck['step']}" if ck.get("step") is not None else ""
        train = f" (`{ck.get('preset')}` preset trained at {ck.get('resolution')}x{ck.get('resolution')} on {ck.get('dataset')}, σ = {ck.get('sigma')})" if ck.get("preset") else ""
        where = Path(str(ck.get("checkpoint", ck.get("path"))))
        try:
            where = where.resolve().relative_to(REPO)
        except ValueError:
            pass
        lines += [f"Network: `{where}`{step}{train}.", ""]
        if where == DEFAULT_MODEL.relative_to(REPO):
            lines += ["This file is the generator of the `tiny` preset trained on 2 CPU cores for 5,483 steps (batch 5, "
                      "about 90 minutes of wall time, shared with other jobs) on `faces/train` at 256x256, σ = 7.5, exported without D: "
                      "`pastenet train --stream --dataset faces --resolution 256 --sigma 7.5 --preset tiny --batch 5`. "
                      "It never saw street scenes.", ""]
    else:
        lines += [f"Network: not evaluated ({network_note}).", ""]
    lines += [
        f"Evaluation set: pastegen tuples of the held-out test photos at {a.size}x{a.size}, seed {a.seed}, frozen by "
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
        lines += [f"### {ds}: {what}, {n} samples per setting", "", "PSNR (dB) / fMSE, mean over samples:", "",
                  report.headline_table(summary, key), "", f"![{ds} {sweep}](results/quality/plot-{ds}-{sweep}.png)", ""]
    if case_rows:
        lines += ["### Real cases (`cases/crosspaste.csv`, no ground truth)", "",
                  "Mean over the cases; seam jump: mean |Y_p − Y_q| over the edges crossing the mask's border; "
                  f"seam gradient error: mean ||∇Y| − |∇target|| within {a.band} px of the border; outside changed: pixels "
                  "outside the mask that differ from the target (summed; must be 0).", "",
                  report.cases_table(case_rows), ""]
    if speed_rows:
        lines += ["### Speed", "", f"Milliseconds per image (median of {a.repeats} after a warm-up), a mask of about 100-150 px side; "
                  f"torch on {a.torch_threads or 'its default number of'} CPU thread(s); the network pastes "
                  "a window around the mask (`roi=True`) unless marked whole image:", "", report.speed_table(speed_rows), ""]
    text = "\n".join(lines)
    return text


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
    network, note = (None, "--no-network") if a.no_network else load_network(a.model, device="cpu")
    # the checkpoint actually loaded (a training run may write a newer one meanwhile)
    resolved = note if network is not None else None
    ck = _checkpoint_info(resolved) if resolved else {}
    print(f"network: {note}" if network is None else f"network: {note}", flush=True)
    methods = build_methods(network)

    print("synthetic evaluation set:", flush=True)
    rows, hashes = run_synthetic(a, methods, out, root)
    report.write_csv(out / "samples.csv", rows)
    summary = report.summarise(rows)
    for key in summary:
        ds, sweep = key
        report.plot_sweep(out / f"plot-{ds}-{sweep}.png", summary, key, f"{ds}, {'σ' if sweep == 'sigma' else 'colour strength'} sweep")
    bad = sum(r["outside_changed"] for r in rows)
    if bad:
        print(f"WARNING: {bad} pixels outside the masks were changed", flush=True)

    case_rows: list[dict] = []
    if not a.no_cases:
        if (root / "cases" / "crosspaste.csv").is_file():
            print("real cases:", flush=True)
            case_rows = run_cases(a, methods, out, root)
            report.write_csv(out / "cases.csv", case_rows)
        else:
            print(f"real cases skipped: no {root / 'cases' / 'crosspaste.csv'}", flush=True)

    speed_rows: list[dict] = []
    if not a.no_speed:
        print("speed:", flush=True)
        speed_rows = run_speed(a, resolved, methods, root)
        report.write_csv(out / "speed.csv", speed_rows)

    command = "PASTEGEN_DATA_ROOT=../shared/data python benchmarks/quality.py" + (" --quick" if a.quick else "")
    if a.model and network is not None and Path(a.model).resolve() != DEFAULT_MODEL.resolve():
        command += f" --model {a.model}"
    if a.readme:
        command += f" --readme {a.readme}"
    text = write_summary(out, a, summary, case_rows, speed_rows, ck, note, command, hashes, time.perf_counter() - t_start)
    full = [text, "", "## All metrics", ""]
    for key in summary:
        full += [f"### {key[0]}, {key[1]} sweep", "", report.sweep_tables(summary, key), ""]
    (out / "summary.md").write_text("\n".join(full) + "\n")
    results = {
        "benchmark": "quality",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(),
        "command": command,
        "argv": sys.argv[1:] if argv is None else list(argv),
        "checkpoint": ck,
        "network": note,
        "evalset": hashes,
        "summary": {f"{k[0]}/{k[1]}": {"n": {str(x): n for x, n in v["n"].items()},
                                        "mean": {m: {met: {str(x): val for x, val in d.items()} for met, d in mm.items()} for m, mm in v["mean"].items()}}
                    for k, v in summary.items()},
        "cases": case_rows,
        "speed": speed_rows,
        "outside_changed_total": int(bad),
        "seconds": time.perf_counter() - t_start,
    }
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    if a.readme:
        update_readme(Path(a.readme), text.replace("](results/quality/", f"]({os.path.relpath(out, Path(a.readme).resolve().parent)}/"))
    print(text)
    print(f"done in {time.perf_counter() - t_start:.0f} s; outputs in {out}", flush=True)
    return 0


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        sys.exit(main())
