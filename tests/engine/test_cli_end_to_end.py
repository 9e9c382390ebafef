"""Every engine subcommand on the `tiny` synthetic benchmark, in process (train, resume, evaluate run,
detect, proposals, export), checking the files they write, not just the exit codes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from acrn.cli.main import build_parser, main
from acrn.engine import checkpoint as ckpt

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "configs" / "synth_tiny.yaml")


def _evaluate_argv_main(argv: list[str]) -> int:
    """``acrn evaluate run ...`` through the real parser when the evaluate command is registered."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "evaluate" in sub.choices:
        return main(argv)
    from acrn.cli import evaluate_run  # evaluate_cmd not there yet: the same action on its own parser

    p = argparse.ArgumentParser(prog="acrn evaluate")
    evaluate_run.register(p.add_subparsers(dest="action"))
    args = p.parse_args(argv[1:])
    args.command = "evaluate"
    return args.func(args)


def _last_json(capsys: pytest.CaptureFixture) -> dict:
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from acrn.synth import generate

    return generate(tmp_path_factory.mktemp("synth") / "tiny", preset="tiny")


@pytest.fixture(scope="module")
def trained(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    sets = ["--set", f"data.root={tiny}", "--set", f"runtime.out_dir={out}", "--set", "solver.max_steps=3",
            "--set", "solver.warmup_steps=1", "--set", "runtime.ckpt_every=2", "--set", "runtime.progress=false"]
    assert main(["train", CONFIG, *sets]) == 0
    assert ckpt.load_checkpoint(out / "checkpoint_last.pt")["step"] == 3
    # --resume continues the same run to a later max_steps.
    assert main(["train", CONFIG, *sets, "--set", "solver.max_steps=4", "--resume", "--no-eval"]) == 0
    return out


def test_train_and_resume(trained: Path) -> None:
    payload = ckpt.load_checkpoint(trained / "checkpoint_last.pt")
    assert payload["step"] == 4
    assert payload["extra"]["class_names"][:2] == ["stand", "walk"] and len(payload["extra"]["class_ids"]) == 9
    rows = [json.loads(r) for r in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert all(np.isfinite(r["loss"]) and r["loss"] > 0 for r in rows)
    assert {"loss_rpn_cls", "loss_cls", "lr", "clips_per_s"} <= set(rows[0])
    ev = [json.loads(r) for r in (trained / "eval.jsonl").read_text().splitlines()]
    assert ev[0]["step"] == 3 and 0.0 <= ev[0]["frame_ap"] <= 1.0
    assert (trained / "config.yaml").read_text().startswith("model:")


def test_evaluate_run_writes_rescorable_csv(trained: Path, tiny: Path, tmp_path: Path, capsys) -> None:
    from acrn.eval.ava import evaluate_ava

    out = tmp_path / "eval"
    rc = _evaluate_argv_main(["evaluate", "run", str(trained / "checkpoint_last.pt"), "--data", str(tiny),
                              "--out", str(out), "--device", "cpu"])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["step"] == 4 and metrics["keyframes"] > 0 and 0.0 <= metrics["frame_ap"] <= 1.0
    # Re-score the written CSV as an outside tool would (file boundary: normalised boxes, %04d times).
    det = np.array([r.split(",") for r in (out / "detections.csv").read_text().splitlines()])
    assert len(det) == metrics["detection_rows"] > 0
    gt = np.array([r.split(",") for r in (tiny / "annotations" / "val.csv").read_text().splitlines()])
    excluded = {tuple(r.split(",")) for r in (tiny / "annotations" / "val_excluded_timestamps.csv").read_text().split()}
    gt = gt[[(v, t) not in excluded for v, t in gt[:, :2]]]
    def keys(a: np.ndarray) -> np.ndarray:
        return np.char.add(np.char.add(a[:, 0], ","), a[:, 1])

    res = evaluate_ava(keys(gt), gt[:, 2:6].astype(float), gt[:, 6].astype(int), keys(det), det[:, 2:6].astype(float),
                       det[:, 6].astype(int), det[:, 7].astype(float), list(range(1, 10)))
    assert res["mAP"] == pytest.approx(metrics["frame_ap"], abs=0.02)  # 3-decimal boxes in the file
    assert (out / "per_class_ap.png").stat().st_size > 1000
    assert (out / "per_class.md").read_text().startswith("frame-AP@0.5: ")
    assert len((out / "per_class.csv").read_text().splitlines()) == 10


def test_corrupted_checkpoint_is_one_clear_error(trained: Path, tiny: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes((trained / "checkpoint_last.pt").read_bytes()[:5000])
    assert main(["detect", str(tiny / "videos" / "synth_00000.mp4"), "--checkpoint", str(bad),
                 "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.pt: not a readable checkpoint (truncated or corrupted?)" in err[0]


def test_detect_video_with_the_checkpoints_rpn(trained: Path, tiny: Path, tmp_path: Path, capsys) -> None:
    import av

    video = tiny / "videos" / "synth_00000.mp4"
    out = tmp_path / "det"
    assert main(["detect", str(video), "--checkpoint", str(trained / "checkpoint_last.pt"), "--out", str(out),
                 "--every", "1", "--actors", "rpn"]) == 0
    summary = _last_json(capsys)["videos"][0]
    doc = json.loads((out / "synth_00000.json").read_text())
    assert [k["time"] for k in doc["keyframes"]] == [0, 1, 2, 3]  # 4 s video, every 1 s
    assert summary["keyframes"] == 4 and doc["persons"] == "rpn"
    actors = [a for k in doc["keyframes"] for a in k["actors"]]
    assert actors and summary["actors"] == len(actors)
    assert all(0 <= a["track"] < len(doc["tracks"]) for a in actors)
    assert all(len(a["labels"]) == 3 and a["labels"][0]["score"] >= a["labels"][1]["score"] for a in actors)
    rows = (out / "synth_00000.csv").read_text().splitlines()
    assert len(rows) == 9 * len(actors) and rows[0].startswith("synth_00000,0000,")
    assert (out / "detections.csv").read_text().splitlines() == rows
    with av.open(str(out / "synth_00000.mp4")) as c, av.open(str(video)) as src:
        assert sum(1 for _ in c.decode(video=0)) == sum(1 for _ in src.decode(video=0))


def test_detect_video_with_a_proposals_file(trained: Path, tiny: Path, tmp_path: Path, capsys) -> None:
    video = tiny / "videos" / "synth_00000.mp4"
    props = tmp_path / "props.csv"
    props.write_text("synth_00000,0001,0.100,0.200,0.300,0.600,-1,0.9\n"
                     "synth_00000,0002,0.110,0.200,0.310,0.600,-1,0.8\n")
    assert main(["detect", str(video), "--checkpoint", str(trained / "checkpoint_last.pt"), "--out",
                 str(tmp_path / "d"), "--proposals", str(props), "--no-render"]) == 0
    doc = json.loads((tmp_path / "d" / "synth_00000.json").read_text())
    h, w = doc["size"]
    got = [(k["time"], a["track"], a["box"]) for k in doc["keyframes"] for a in k["actors"]]
    # One person at seconds 1 and 2 (one track: the boxes overlap); none at 0 and 3.
    assert [(t, tr) for t, tr, _ in got] == [(1, 0), (2, 0)]
    assert got[0][2] == [round(0.1 * w, 1), round(0.2 * h, 1), round(0.3 * w, 1), round(0.6 * h, 1)]
    assert not (tmp_path / "d" / "synth_00000.mp4").exists()


def test_proposals_dataset_and_videos(trained: Path, tiny: Path, tmp_path: Path, capsys) -> None:
    from acrn.data.ava import read_proposals

    ck = str(trained / "checkpoint_last.pt")
    assert main(["proposals", str(tiny), "--checkpoint", ck, "--out", str(tmp_path / "p.csv"),
                 "--max-per-frame", "4"]) == 0
    info = _last_json(capsys)
    props = read_proposals(tmp_path / "p.csv")
    val_keys = {tuple(r.split(",")[:2]) for r in (tiny / "annotations" / "val.csv").read_text().splitlines()}
    assert {(v, f"{t:04d}") for v, t in props} <= val_keys and len(props) == info["keyframes"]
    assert all(0 < len(a) <= 4 and (a[:, :4] >= 0).all() and (a[:, :4] <= 1).all() for a in props.values())
    assert main(["proposals", str(tiny / "videos"), "--checkpoint", ck, "--out", str(tmp_path / "p.pkl")]) == 0
    pk = read_proposals(tmp_path / "p.pkl")
    assert sorted(pk)[:4] == [("synth_00000", t) for t in range(4)] and len(pk) == 6 * 4  # 6 videos x 4 s


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_matches_pytorch(trained: Path, tmp_path: Path, capsys, fmt: str) -> None:
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")  # the optional `export` extra
        pytest.importorskip("onnxscript")
    from acrn.engine.export import ExportedDetector, example_inputs, run_onnx
    from acrn.engine.infer import load_detector

    path = tmp_path / ("m.onnx" if fmt == "onnx" else "m.pt")
    assert main(["export", str(trained / "checkpoint_last.pt"), "--format", fmt, "--out", str(path), "--check"]) == 0
    assert _last_json(capsys)["max_abs_diff"] < 1e-4
    # A different number of boxes than the export example (R is dynamic).
    cfg, model, _, _ = load_detector(trained / "checkpoint_last.pt", actors="gt")
    clip, boxes = example_inputs(cfg.data.num_frames, (64, 64), num_boxes=7)
    with torch.no_grad():
        ref = ExportedDetector(model, 9)(clip, boxes)
        got = run_onnx(path, clip, boxes) if fmt == "onnx" else torch.jit.load(str(path))(clip, boxes)
    assert [tuple(g.shape) for g in got] == [(7, 9), (7, 4), tuple(ref[2].shape)]
    for g, r in zip(got, ref):
        torch.testing.assert_close(torch.as_tensor(g), r, rtol=1e-4, atol=1e-5)
