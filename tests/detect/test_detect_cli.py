"""``acrn detect`` and ``acrn proposals`` on real footage (``../shared/videos``) with the real person
detector: tracks, labels per tracked person, rendered video; and one clear error for each bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from acrn.cli.main import main
from tests.conftest import shared_video

ROOT = Path(__file__).resolve().parents[2]


def _last_json(capsys: pytest.CaptureFixture) -> dict:
    return json.loads([ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")][-1])


def _frames(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ACRN detector of the tiny synthetic config (random weights; trained with its RPN)."""
    from acrn.config import load_config, to_dict
    from acrn.engine.checkpoint import make_checkpoint, save_checkpoint
    from acrn.models import build_model

    cfg = load_config(str(ROOT / "configs" / "synth_tiny.yaml"), ["runtime.device=cpu"])
    torch.manual_seed(0)
    model, _, _ = build_model(cfg)
    names = ["stand", "walk", "run", "jump", "wave", "catch", "throw", "give", "receive"]
    payload = make_checkpoint(step=1, model_state=model.state_dict(), config=to_dict(cfg),
                              extra={"class_ids": list(range(1, 10)), "class_names": names})
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny_acrn.pt", payload)


def test_person_tracks_on_a_real_video(fastestdet_weights: Path, tmp_path: Path, capsys) -> None:
    video = shared_video("demo.mp4")
    assert main(["detect", str(video), "--out", str(tmp_path)]) == 0
    summary = _last_json(capsys)["videos"][0]
    doc = json.loads((tmp_path / "demo.json").read_text())
    assert doc["num_frames"] == 280 and doc["size"] == [256, 340] and doc["persons"] == "fastestdet"
    assert summary["keyframes"] == len(doc["keyframes"]) == 10  # 10 s, one key frame a second
    assert [k["index"] for k in doc["keyframes"]] == [round(28 * t) for t in range(10)]
    # The two arm-wrestlers fill the frame all along: two tracks cover most of the video.
    long = [t for t in doc["tracks"] if t["detections"] >= 140]
    assert len(long) >= 2
    rows = list(csv.DictReader((tmp_path / "demo.tracks.csv").open()))
    # Rows are the detections that joined a kept track: all but the flicker that --min-track 3 drops.
    assert 0.9 * summary["person_boxes"] <= len(rows) < summary["person_boxes"]
    ids = {t["id"] for t in doc["tracks"]}
    assert {int(r["track"]) for r in rows} == ids and all(0 <= float(r["x1"]) < float(r["x2"]) <= 340 for r in rows)
    assert all(abs(float(r["time"]) - int(r["frame"]) / 28) < 1e-3 for r in rows)  # 28 fps, from the first frame
    per_track = {}
    for r in rows:
        per_track.setdefault(int(r["track"]), []).append(int(r["frame"]))
    assert all(f == sorted(f) and len(set(f)) == len(f) for f in per_track.values())  # one box per frame
    assert all("labels" not in a for k in doc["keyframes"] for a in k["actors"])
    assert not (tmp_path / "demo.csv").exists()  # no action model: no AVA rows
    assert _frames(tmp_path / "demo.mp4") == 280


def test_actions_for_every_tracked_person(fastestdet_weights: Path, checkpoint: Path, tmp_path: Path,
                                          capsys) -> None:
    video = shared_video("demo.mp4")
    assert main(["detect", str(video), "--checkpoint", str(checkpoint), "--out", str(tmp_path), "--every", "2",
                 "--top-k", "2"]) == 0
    summary = _last_json(capsys)["videos"][0]
    doc = json.loads((tmp_path / "demo.json").read_text())
    assert len(doc["keyframes"]) == 5
    actors = [a for k in doc["keyframes"] for a in k["actors"]]
    assert summary["actors"] == len(actors) >= 5  # the model labels the persons the detector found
    track_ids = {t["id"] for t in doc["tracks"]}
    assert all(a["track"] in track_ids and len(a["labels"]) == 2 for a in actors)
    rows = (tmp_path / "demo.csv").read_text().splitlines()
    assert len(rows) == 9 * len(actors) and (tmp_path / "detections.csv").read_text().splitlines() == rows
    first = rows[0].split(",")
    assert first[0] == "demo" and first[1] == "0000" and all(0 <= float(v) <= 1 for v in first[2:6])
    assert _frames(tmp_path / "demo.mp4") == 280


def test_an_avi_with_packed_b_frames(fastestdet_weights: Path, tmp_path: Path, capsys) -> None:
    video = shared_video("test.avi")
    assert main(["detect", str(video), "--out", str(tmp_path), "--every", "2"]) == 0
    doc = json.loads((tmp_path / "test.json").read_text())
    assert doc["num_frames"] == 164 and [k["index"] for k in doc["keyframes"]] == [0, 50, 100, 150]
    assert any(t["detections"] >= 100 for t in doc["tracks"])  # the woman in front of the camera
    assert _frames(tmp_path / "test.mp4") == 164


def test_proposals_from_the_person_detector(fastestdet_weights: Path, tmp_path: Path, capsys) -> None:
    from acrn.data.ava import read_proposals

    video = shared_video("demo.mp4")
    assert main(["proposals", str(video), "--out", str(tmp_path / "p.pkl"), "--max-per-frame", "5"]) == 0
    info = _last_json(capsys)
    props = read_proposals(tmp_path / "p.pkl")
    assert sorted(props) == [("demo", t) for t in range(10)] and info["keyframes"] == 10
    assert all(len(a) <= 5 and (a[:, :4] >= 0).all() and (a[:, :4] <= 1).all() for a in props.values())
    assert sum(len(a) >= 1 for a in props.values()) >= 8


def _one_error(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_bad_inputs_give_one_line_and_no_files(fastestdet_weights: Path, checkpoint: Path, tmp_path: Path,
                                               capsys) -> None:
    out = tmp_path / "out"
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    assert main(["detect", str(text), "--out", str(out)]) == 2
    assert "notes.mp4: cannot open video" in _one_error(capsys)
    zero = tmp_path / "zero.mp4"
    zero.write_bytes(b"")
    assert main(["detect", str(zero), "--out", str(out)]) == 2
    assert "zero.mp4: empty file (0 bytes), expected a video" in _one_error(capsys)
    cut = tmp_path / "cut.mp4"  # the first 20 kB of an mp4 whose index (moov) is at the end
    cut.write_bytes(shared_video("demo.mp4").read_bytes()[:20000])
    assert main(["detect", str(cut), "--out", str(out)]) == 2
    assert "cut.mp4: cannot open video" in _one_error(capsys)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["detect", str(empty), "--out", str(out)]) == 2
    assert "empty: folder has no videos" in _one_error(capsys)
    assert main(["detect", str(tmp_path / "missing.mp4"), "--out", str(out)]) == 2
    assert "missing.mp4: video file not found" in _one_error(capsys)
    video = shared_video("demo.mp4")
    assert main(["detect", str(video), "--checkpoint", str(fastestdet_weights), "--out", str(out)]) == 2
    assert "not an acrn checkpoint" in _one_error(capsys)
    assert main(["detect", str(video), "--out", str(out), "--person-weights", str(checkpoint)]) == 2
    assert "tiny_acrn.pt" in _one_error(capsys)
    assert main(["detect", str(video), "--out", str(out), "--actors", "rpn"]) == 2
    assert "--actors rpn needs --checkpoint" in _one_error(capsys)
    assert not out.exists() or list(out.iterdir()) == []
