"""``acrn data check``: missing videos and frames, frame counts, bad rows, --skip-bad; one-line errors."""

from __future__ import annotations

import pytest

from acrn.cli.main import main


@pytest.fixture
def ava_root(tmp_path, media):
    root = tmp_path / "ava"
    ann = root / "annotations"
    ann.mkdir(parents=True)
    (ann / "ava_train_v2.1.csv").write_text(media.AVA_ROWS)
    (ann / "ava_action_list_v2.1_for_activitynet_2018.pbtxt").write_text(media.LABELMAP_V21)
    media.write_frames(root / "frames" / "-5KQ66BBWC4", 70, "-5KQ66BBWC4_{num:06d}.jpg", h=16, w=20)
    media.write_frames(root / "frames" / "1j20qq1JyX4", 70, "1j20qq1JyX4_{num:06d}.jpg", h=16, w=20)
    (root / "frames" / "1j20qq1JyX4" / "1j20qq1JyX4_000007.jpg").unlink()
    return root  # 0f39OWEqJ24 has annotations but no frames


def test_ava_check_reports_missing_and_counts(ava_root, capsys):
    rc = main(["data", "check", "ava", "--root", str(ava_root), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "error: missing video: " in out and "0f39OWEqJ24: frame folder not found" in out
    assert "1j20qq1JyX4: 1 missing frame file(s) below number 70: 7" in out
    assert "-5KQ66BBWC4: 70 frames, the annotations assume 27,030" in out
    assert out.strip().splitlines()[-1] == f"ava {ava_root}: 3 videos, 3 key frames, 2 errors, 2 warnings"


def test_bad_row_one_line_error_or_skipped(ava_root, capsys):
    csv = ava_root / "annotations" / "ava_train_v2.1.csv"
    csv.write_text(csv.read_text() + "1j20qq1JyX4,0903,0.1,0.1,1.2,0.5,12,1\n")
    assert main(["data", "check", "ava", "--root", str(ava_root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("acrn data: error: ") and "ava_train_v2.1.csv: row 5: box 0.1,0.1,1.2,0.5 is outside" in err
    assert main(["data", "check", "ava", "--root", str(ava_root), "--skip-bad", "--no-progress"]) == 1
    assert "1 bad rows skipped" in capsys.readouterr().out


def test_custom_check_short_video_and_decode(tmp_path, media, capsys):
    root = media.write_custom(tmp_path / "c", {"a": (30, 30, 0.0)}, "a,0000,0.1,0.1,0.5,0.5,12,0\n"
                                                                     "a,0002,0.1,0.1,0.5,0.5,12,0\n", split="val")
    rc = main(["data", "check", "custom", "--root", str(root), "--split", "val", "--decode", "--skip-bad",
               "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "a.mp4: 30 frames (30.000 fps) but 1 key frame(s) need frames up to 60" in out
    assert "1 samples skipped" in out


def test_jhmdb_check_frame_counts(tmp_path, media, capsys):
    import numpy as np

    v = "catch/x"
    gt = {"labels": ["catch"], "train_videos": [[v]], "test_videos": [[v]], "nframes": {v: 6},
          "resolution": {v: (16, 20)}, "gttubes": {v: {0: [np.array([[f, 1, 1, 5, 5] for f in range(1, 7)],
                                                                       np.float32)]}}}
    media.write_gt_pickle(tmp_path / "j" / "JHMDB-GT.pkl", gt)
    media.write_frames(tmp_path / "j" / "Frames" / v, 5, "{num:05d}.png", h=16, w=20)
    rc = main(["data", "check", "jhmdb", "--root", str(tmp_path / "j"), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "5 frames, the ground truth says nframes = 6" in out
    assert "but 2 key frame(s) need frames up to 5" in out  # train and test split both list the video


def test_explicit_missing_split_is_an_error(ava_root, capsys):
    assert main(["data", "check", "ava", "--root", str(ava_root), "--split", "val"]) == 2
    err = capsys.readouterr().err
    assert "ava_val_v2.1.csv: annotation CSV for split 'val' not found" in err and err.count("\n") == 1
