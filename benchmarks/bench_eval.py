"""Evaluation speed at AVA-validation and JHMDB scale (generates its own data; prints JSON).

AVA: 64 videos x 234 keyframes (14,976), ~3.8 GT boxes per keyframe (56.8k), 60 classes, 20 boxes x 60
classes = 1,200 detection rows per keyframe (17.97M rows, ~0.9 GB CSV). Timed: CSV parsing, in-memory
frame-AP per protocol, end to end in a child process (its peak RSS reported). Baselines measured in the
same run on a subset and scaled linearly by rows: Python's csv module + float() (parsing) and the naive
official-algorithm reference of tests/eval/reference.py (evaluation).
JHMDB: 270 videos x 40 frames, 21 classes, 2.26M frame detections, 56,700 tubes; baseline: the naive ACT
reference of tests/eval/reference_act.py on a subset, scaled.

Also timed: the same detections with unpadded action ids/timestamps (up to four line lengths per block:
ids of one or two digits, seconds of three or four), CPU seconds next to wall seconds (the machine is
shared), and with ``--baseline-src`` an earlier revision end to end in the same run, padded and unpadded
(``git archive REV src | tar -x -C /tmp/base`` then ``--baseline-src /tmp/base/src``).

With ``--official DIR`` (from ``tools/setup_official_evaluators.sh``) the official AVA evaluators (2018 and
2020 revisions) run on the same files right after acrn; without it the ratios to the official tools are
estimated from the figures measured in issue #18 (ISSUE below), scaled by how fast the ``--baseline-src``
revision runs here now; for that estimate the baseline must be the acrn the issue measured, ISSUE_REVISION
(the last commit before any work on #18; a later, faster revision would understate the ratios). End to end =
a fresh process reading the files (its peak RSS); JHMDB: the median of ``--repeats`` runs, each followed by
a baseline run. JHMDB end to end: ``gt.pkl``, a frame-detections CSV (``%.4f`` scores, ``%.1f`` boxes) and
the tubes JSON written by ``acrn link``'s writer (and its ``.npz``), evaluated by ``evaluate_act_files``; the
same tubes as ACT's own input to its videoAP (a folder of ``<video>_tubes.pkl``, float32 as ACT writes them):
``end_to_end_video_act_pkl`` is the like-for-like comparison with ACT's code, which reads those pickles.

    git archive ef048c2 src | tar -x -C /tmp/base      # ISSUE_REVISION
    python benchmarks/bench_eval.py [--scale 1.0] [--repeats 3] [--workdir /tmp/acrn_bench_eval]
        [--baseline-src /tmp/base/src] [--official /tmp/acrn_official] [--jhmdb-end-to-end-only]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "eval"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from eval_data import make_ava, make_jhmdb, variable_width_copy, write_jhmdb  # noqa: E402

from acrn.eval import act_frame_ap, act_video_ap, evaluate_ava  # noqa: E402
from acrn.eval.ava_csv import read_ava_csv  # noqa: E402
from acrn.eval.labelmap import AVA_V21_60_CLASS_IDS  # noqa: E402
from acrn.eval.tube_iou import Tubes  # noqa: E402

# Issue #18, measured one after another on 2 cores: official tools and the acrn of that day (= --baseline-src)
ISSUE = {"ava_2018": {"official_s": 287.0, "official_mb": 5750.0, "acrn_s": 7.1, "acrn_mb": 1580.0},
         "ava_2020": {"official_s": 104.0, "official_mb": 460.0, "acrn_s": 5.5, "acrn_mb": 1510.0},
         "act_frame": {"official_s": 20.1, "official_mb": 1317.0, "acrn_s": 7.1, "acrn_mb": 681.0},
         "act_video": {"official_s": 13.7, "official_mb": 773.0, "acrn_s": 13.7, "acrn_mb": 1171.0}}
ISSUE_REVISION = "ef048c2"  # the acrn of ISSUE's figures: last commit before the work on issue #18
GOALS = {"ava_2018": 50.0, "ava_2020": 25.0, "act_frame": 10.0, "act_video": 10.0}  # x the official time
AVA_PEAK_MB = 600.0


def versus_official(name: str, new: dict, old: dict | None, official: dict | None) -> dict:
    """Speed-up and memory of ``new`` against the official tool: measured when ``official`` ran here, else
    estimated from ISSUE (official time x this run's baseline / the issue's baseline; memory as measured)."""
    fig = ISSUE[name]
    if official is not None:
        off_s, off_mb, how = official["s"], official["peak_rss_mb"], "measured side by side"
    elif old is not None:
        off_s, off_mb, how = fig["official_s"] * old["s"] / fig["acrn_s"], fig["official_mb"], \
            "estimated: issue figure x (baseline here / baseline in the issue)"
    else:
        off_s, off_mb, how = fig["official_s"], fig["official_mb"], "issue figure (different minutes)"
    out = {"official_s": off_s, "official_peak_mb": off_mb, "how": how, "speedup": off_s / new["s"],
           "peak_mb": new["peak_rss_mb"], "speedup_goal": GOALS[name]}
    out["speed_goal_met"] = out["speedup"] >= GOALS[name]
    out["memory_goal_met"] = new["peak_rss_mb"] <= (AVA_PEAK_MB if name.startswith("ava") else off_mb)
    return out


def tie_range(workdir: Path, protocol: str) -> dict:
    """Per class, the lowest and highest AP over all orders of equal scores (TPs last / first in each run of
    equal scores), from acrn's kept detections and TP flags; the official evaluator's unstable sort must land
    inside. Returns {"per_class": {"a<id>": [lo, hi]}, "mAP": [lo, hi]}."""
    from acrn.eval.ap import voc_ap_from_tp_ranks
    from acrn.eval.ava import AvaAccumulator
    from acrn.eval.ava_stream import stream_detections

    videos: dict[str, int] = {}
    g = read_ava_csv(workdir / "gt.csv", protocol, videos)
    acc = AvaAccumulator(g.keys, g.boxes, g.labels, AVA_V21_60_CLASS_IDS, protocol=protocol, capacity=20_000_000)
    stream_detections(workdir / "det.csv", protocol, videos, acc)
    cls, scores = acc.cls[:acc.n], acc.scores[:acc.n]
    tp = np.zeros(acc.n, bool)
    tp[acc.claim_row[acc.claim_row >= 0]] = True
    order = np.argsort(-scores, kind="stable")
    order = order[np.argsort(cls[order], kind="stable")]  # by class, then score descending
    c, s, t = cls[order], scores[order], tp[order]
    bounds = np.searchsorted(c, np.arange(acc.ncls + 1))
    out, lo_all, hi_all = {}, [], []
    for k in range(acc.ncls):
        if acc.num_gt[k] == 0:
            continue
        ss, tt = s[bounds[k]:bounds[k + 1]], t[bounds[k]:bounds[k + 1]]
        heads = np.flatnonzero(np.concatenate([[True], ss[1:] != ss[:-1]])) if ss.size else np.zeros(0, int)
        size = np.diff(np.append(heads, ss.size))
        ntp = np.add.reduceat(tt, heads) if ss.size else np.zeros(0, int)
        ramp = np.arange(int(ntp.sum())) - np.repeat(np.cumsum(ntp) - ntp, ntp)
        best = np.repeat(heads, ntp) + ramp + 1
        worst = np.repeat(heads + size - ntp, ntp) + ramp + 1
        lo, hi = (voc_ap_from_tp_ranks(r, int(acc.num_gt[k])) for r in (worst, best))
        out[f"a{int(acc.classes[k])}"] = [lo, hi]
        lo_all.append(lo), hi_all.append(hi)
    return {"per_class": out, "mAP": [float(np.mean(lo_all)), float(np.mean(hi_all))]}


def timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def _measured_child(call: str, fields: str, src: str | None = None) -> dict:
    """Run ``call`` (statements leaving a result ``r``) in a fresh process; return its JSON: wall ``s``,
    ``cpu_s`` (user + system), ``sys_s``, ``peak_rss_mb`` and the ``fields`` (dict items over ``r``).

    ``src``: another checkout's ``src`` folder to import acrn from (the baseline revision)."""
    code = ("import time, json, os; t=time.perf_counter(); c=os.times();" + call +
            "e=os.times(); hwm=[int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM')][0];"
            "print(json.dumps({'s': time.perf_counter()-t, 'cpu_s': e.user+e.system-c.user-c.system,"
            " 'sys_s': e.system-c.system, 'peak_rss_mb': hwm/1024, " + fields + "}))")
    env = dict(os.environ, **({"PYTHONPATH": src} if src else {}))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median_run(runs: list[dict]) -> dict:
    """The run of median wall time, with every run's seconds and peaks."""
    runs = sorted(runs, key=lambda r: r["s"])
    return {**runs[len(runs) // 2], "runs_s": [r["s"] for r in runs], "runs_mb": [r["peak_rss_mb"] for r in runs]}


def _child_end_to_end(workdir: Path, protocol: str, det: str = "det.csv", src: str | None = None,
                      repeats: int = 1) -> dict:
    """``evaluate_ava_files`` in a fresh process: wall and CPU seconds (user + system), peak RSS; with
    ``repeats`` > 1 the run of median wall time, with every run's seconds and peaks (``runs_s``, ``runs_mb``).

    ``src``: another checkout's ``src`` folder to import acrn from (the baseline revision).
    """
    if repeats > 1:
        return _median_run([_child_end_to_end(workdir, protocol, det, src) for _ in range(repeats)])
    return _measured_child("from acrn.eval.files import evaluate_ava_files;"
                           f"r=evaluate_ava_files(r'{workdir / 'gt.csv'}', r'{workdir / det}', "
                           f"r'{workdir / 'lm.pbtxt'}', None, '{protocol}');", "'mAP': r['mAP']", src)


def bench_ava(workdir: Path, scale: float, repeats: int, baseline_src: str | None = None,
              official_dir: str | None = None) -> dict:
    from reference import ref_ava

    info = make_ava(workdir, scale)
    (workdir / "lm.pbtxt").write_text("".join(f'item {{\n  name: "a{c}"\n  id: {c}\n}}\n'
                                              for c in AVA_V21_60_CLASS_IDS))
    res = {"data": info}
    videos: dict[str, int] = {}
    t_gt, g = timed(lambda: read_ava_csv(workdir / "gt.csv", "2018", videos), repeats)
    t_det, d = timed(lambda: read_ava_csv(workdir / "det.csv", "2018", videos), repeats)
    res["parse_gt_s"], res["parse_det_s"] = t_gt, t_det
    c = time.process_time()
    read_ava_csv(workdir / "det.csv", "2018", {})
    res["parse_det_cpu_s"] = time.process_time() - c
    var = variable_width_copy(workdir)
    t, c = time.perf_counter(), time.process_time()
    dv = read_ava_csv(var, "2018", {})
    res["parse_det_variable_width_s"], res["parse_det_variable_width_cpu_s"] = (time.perf_counter() - t,
                                                                                 time.process_time() - c)
    assert np.array_equal(dv.boxes, d.boxes) and np.array_equal(dv.scores, d.scores)
    dv = None
    # baseline parse: csv module + float() on the first 200k rows, scaled by rows
    n_sub = min(200_000, info["det_rows"])
    with open(workdir / "det.csv") as f:
        head = [next(f) for _ in range(n_sub)]
    t = time.perf_counter()
    for row in csv.reader(head):
        [float(x) for x in row[1:]]
    res["baseline_csv_module_parse_s_scaled"] = (time.perf_counter() - t) * info["det_rows"] / n_sub
    res["parse_det_speedup"] = res["baseline_csv_module_parse_s_scaled"] / res["parse_det_s"]
    classes = list(AVA_V21_60_CLASS_IDS)
    for proto in ("2018", "2019", "2020"):
        s, r = timed(lambda p=proto: evaluate_ava(g.keys, g.boxes, g.labels, d.keys, d.boxes, d.labels, d.scores,
                                                  classes, protocol=p), repeats)
        res[f"inmemory_{proto}_s"], res[f"mAP_{proto}"] = s, r["mAP"]
        c = time.process_time()
        evaluate_ava(g.keys, g.boxes, g.labels, d.keys, d.boxes, d.labels, d.scores, classes, protocol=proto)
        res[f"inmemory_{proto}_cpu_s"] = time.process_time() - c
    # baseline eval: naive official algorithm on the first video, scaled by detection rows
    v0 = d.keys < d.keys.min() + (1 << 40)
    gv = g.keys < d.keys.min() + (1 << 40)
    gt_rows = [(int(k), *b, int(lab)) for k, b, lab in zip(g.keys[gv], g.boxes[gv], g.labels[gv], strict=True)]
    det_rows = [(int(k), *b, int(lab), float(s)) for k, b, lab, s in
                zip(d.keys[v0], d.boxes[v0], d.labels[v0], d.scores[v0], strict=True)]
    t = time.perf_counter()
    ref_ava(gt_rows, det_rows, classes, "2018")
    res["baseline_naive_2018_s_scaled"] = (time.perf_counter() - t) * d.keys.size / max(1, len(det_rows))
    res["inmemory_2018_speedup"] = res["baseline_naive_2018_s_scaled"] / res["inmemory_2018_s"]
    g = d = None  # free memory before the end-to-end runs
    res.update(bench_ava_end_to_end(workdir, repeats, baseline_src, official_dir))
    new = res["end_to_end_2018_variable_width"] = _child_end_to_end(workdir, "2018", det="det_var.csv")
    if baseline_src:
        old = res["end_to_end_2018_variable_width_baseline"] = _child_end_to_end(workdir, "2018", det="det_var.csv",
                                                                                 src=baseline_src)
        assert old["mAP"] == new["mAP"], (old, new)
        res["end_to_end_2018_variable_width_speedup_vs_baseline"] = {k: old[k] / new[k] for k in ("s", "cpu_s")}
    return res


def bench_ava_end_to_end(workdir: Path, repeats: int, baseline_src: str | None = None,
                         official_dir: str | None = None) -> dict:
    """End to end per protocol on the files in ``workdir`` (median of ``repeats`` fresh processes), the
    baseline revision right after each, the official tools if given, and the goals of issue #18."""
    res: dict = {}
    for proto in ("2018", "2019", "2020"):
        new = res[f"end_to_end_{proto}"] = _child_end_to_end(workdir, proto, repeats=repeats)
        if baseline_src:  # same data, same minutes: the earlier revision right after
            old = res[f"end_to_end_{proto}_baseline"] = _child_end_to_end(workdir, proto, src=baseline_src,
                                                                          repeats=repeats)
            assert old["mAP"] == new["mAP"], (old, new)
            res[f"end_to_end_{proto}_speedup_vs_baseline"] = {k: old[k] / new[k] for k in ("s", "cpu_s")}
    for proto in ("2018", "2020"):
        official = None
        if official_dir:
            from run_official_ava import run_official
            official = res[f"official_{proto}"] = run_official(official_dir, proto, workdir / "gt.csv",
                                                               workdir / "det.csv", workdir / "lm.pbtxt")
            res[f"official_{proto}"]["mAP_abs_diff_vs_acrn"] = abs(official["mAP"] - res[f"end_to_end_{proto}"]["mAP"])
            ties = tie_range(workdir, proto)
            inside = [n for n, (lo, hi) in ties["per_class"].items() if lo <= official["per_class"][n] <= hi]
            res[f"tie_range_{proto}"] = {"acrn_mAP": res[f"end_to_end_{proto}"]["mAP"], "official_mAP": official["mAP"],
                                         "mAP_range": ties["mAP"], "classes": len(ties["per_class"]),
                                         "official_inside_range": len(inside)}
        res[f"goal_{proto}"] = versus_official(f"ava_{proto}", res[f"end_to_end_{proto}"],
                                               res.get(f"end_to_end_{proto}_baseline"), official)
    res["goal_peak_le_600mb_every_protocol"] = all(max(res[f"end_to_end_{p}"].get("runs_mb", [0.0]) + [
        res[f"end_to_end_{p}"]["peak_rss_mb"]]) <= AVA_PEAK_MB for p in ("2018", "2019", "2020"))
    return res


def bench_jhmdb(repeats: int) -> dict:
    from reference_act import ref_frame_ap, ref_video_ap

    gt, videos, fd, items = make_jhmdb()
    res = {"data": {"videos": len(videos), "frame_dets": int(fd.shape[0]), "tubes": len(items)}}
    res["frame_ap_s"], r = timed(lambda: act_frame_ap(gt, videos, fd[:, 0], fd[:, 1], fd[:, 2], fd[:, 3], fd[:, 4:8]),
                                 repeats)
    res["frame_mAP"] = r["mAP"]
    tubes = Tubes.from_list(items)
    res["video_ap_s"], r = timed(lambda: act_video_ap(gt, videos, tubes, [0.2, 0.5, 0.75]), repeats)
    res["video_ap_5_thresholds_plus_range_s"], _ = timed(lambda: act_video_ap(gt, videos, tubes,
                                                                              [0.2, 0.5, 0.75, "0.5:0.95"]), 1)
    res["video_mAP"] = r["video_mAP"]
    # baselines: naive ACT code on the first 10 videos, scaled
    sub = videos[:10]
    gsub = {**gt, "gttubes": {v: gt["gttubes"][v] for v in sub}}
    t = time.perf_counter()
    ref_frame_ap(gsub, sub, fd[fd[:, 0] < 10])
    res["baseline_naive_frame_ap_s_scaled"] = (time.perf_counter() - t) * len(videos) / 10
    per_video: dict = {}
    for vi, c, s, a in items:
        if vi < 10:
            per_video.setdefault(videos[vi], {}).setdefault(c, []).append((a.astype(np.float32), s))
    t = time.perf_counter()
    ref_video_ap(gsub, sub, per_video, 0.5)
    res["baseline_naive_video_ap_one_threshold_s_scaled"] = (time.perf_counter() - t) * len(videos) / 10
    res["frame_ap_speedup"] = res["baseline_naive_frame_ap_s_scaled"] / res["frame_ap_s"]
    res["video_ap_speedup_vs_3x_one_threshold"] = 3 * res["baseline_naive_video_ap_one_threshold_s_scaled"] / \
        res["video_ap_s"]
    return res


def _child_act(workdir: Path, what: str, src: str | None = None, tubes: str = "jhmdb_tubes.json") -> dict:
    """``evaluate_act_files`` on the frame detections (``what="frame"``) or the tubes in a fresh process."""
    arg = f"frame_dets=r'{workdir / 'jhmdb_fd.csv'}'" if what == "frame" else \
        f"tubes=r'{workdir / tubes}', video_iou=(0.2, 0.5, 0.75)"
    return _measured_child("from acrn.eval.files import evaluate_act_files;"
                           f"r=evaluate_act_files(r'{workdir / 'jhmdb_gt.pkl'}', 1, {arg});",
                           "'mAP': r['mAP'], 'video_mAP': r.get('video_mAP')", src)


def bench_jhmdb_files(workdir: Path, baseline_src: str | None, repeats: int = 3, write: bool = True) -> dict:
    """End to end on the JHMDB-scale files: medians of ``repeats`` fresh processes, each run of this revision
    followed by one of the baseline revision (same minutes, same page cache)."""
    if write or not (workdir / "jhmdb_act_tubes").exists():
        write_jhmdb(workdir)
    res = {}
    for what, tubes in (("frame", None), ("video", "jhmdb_tubes.json"), ("video_npz", "jhmdb_tubes.npz"),
                        ("video_act_pkl", "jhmdb_act_tubes")):
        kind = "frame" if what == "frame" else "video"
        runs_new, runs_old = [], []
        for _ in range(repeats):
            runs_new.append(_child_act(workdir, kind, tubes=tubes or "jhmdb_tubes.json"))
            if baseline_src and what in ("frame", "video"):  # (the baseline reads JSON only)
                runs_old.append(_child_act(workdir, kind, baseline_src))
        new = res[f"end_to_end_{what}"] = _median_run(runs_new)
        old = res.get("end_to_end_video_baseline") if what.startswith("video_") else None
        if runs_old:
            old = res[f"end_to_end_{what}_baseline"] = _median_run(runs_old)
            assert (old["mAP"], old["video_mAP"]) == (new["mAP"], new["video_mAP"]), (old, new)
            res[f"end_to_end_{what}_speedup_vs_baseline"] = {k: old[k] / new[k] for k in ("s", "cpu_s")}
        if what == "video_npz":
            assert new["video_mAP"] == res["end_to_end_video"]["video_mAP"], (new, res["end_to_end_video"])
        if what == "video_act_pkl":  # ACT's float32 boxes, not the JSON's 3 decimals: the APs move a little
            res["video_act_pkl_mAP_minus_json"] = {th: new["video_mAP"][th] - res["end_to_end_video"]["video_mAP"][th]
                                                   for th in new["video_mAP"]}
        res[f"goal_{what}"] = versus_official(f"act_{kind}", new, old, None)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of AVA keyframes per video")
    ap.add_argument("--repeats", type=int, default=3, help="repeats for JHMDB timings (median)")
    ap.add_argument("--ava-repeats", type=int, default=1, help="repeats for AVA-scale timings (median)")
    ap.add_argument("--workdir", default="/tmp/acrn_bench_eval")
    ap.add_argument("--skip-ava", action="store_true")
    ap.add_argument("--skip-jhmdb", action="store_true")
    ap.add_argument("--reuse-jhmdb-files", action="store_true", help="keep the JHMDB files of an earlier run")
    ap.add_argument("--jhmdb-end-to-end-only", action="store_true", help="only the JHMDB end-to-end runs")
    ap.add_argument("--ava-end-to-end-only", action="store_true",
                    help="only the AVA end-to-end runs (median of --ava-repeats fresh processes per protocol) on the "
                         "files already in --workdir (gt.csv, det.csv, lm.pbtxt of an earlier full run)")
    ap.add_argument("--baseline-src", help="src folder of an earlier revision (e.g. from git archive) to time end "
                                           "to end in the same run")
    ap.add_argument("--official", help="OFFICIAL_DIR of tools/setup_official_evaluators.sh: run the official AVA "
                                       "evaluators (2018, 2020) side by side")
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    out = {"numpy": np.__version__, "cpus": os.cpu_count(), "load_avg_at_start": list(os.getloadavg()),
           "repeats": args.repeats, "ava_repeats": args.ava_repeats, "scale": args.scale}
    if args.ava_end_to_end_only:
        args.skip_ava = args.skip_jhmdb = True
        out["ava"] = bench_ava_end_to_end(work, args.ava_repeats, args.baseline_src, args.official)
    if args.jhmdb_end_to_end_only:
        args.skip_ava = args.skip_jhmdb = True
        out["jhmdb"] = bench_jhmdb_files(work, args.baseline_src, args.repeats, not args.reuse_jhmdb_files)
    if not args.skip_jhmdb:
        out["jhmdb"] = bench_jhmdb(args.repeats)
        out["jhmdb"].update(bench_jhmdb_files(work, args.baseline_src, args.repeats, not args.reuse_jhmdb_files))
    if not args.skip_ava:
        out["ava"] = bench_ava(work, args.scale, args.ava_repeats, args.baseline_src, args.official)
    out["load_avg_at_end"] = list(os.getloadavg())
    out["peak_rss_mb_this_process"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
