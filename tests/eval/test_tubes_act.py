"""ACT's own ``<video>_tubes.pkl`` folder: read safely, scored as ACT's videoAP scores it."""

import json
import os
import pickle

import numpy as np
import pytest
from reference_act import ref_video_ap

from acrn.cli.main import main
from acrn.errors import InputError
from acrn.eval.act import act_video_ap
from acrn.eval.act_io import read_tubes, tubes_to_json
from acrn.eval.io import normalize_gt
from acrn.eval.tubes_act import read_act_tubes_dir

LABELS = ["brush_hair", "catch", "clap"]


def _problem(rng, nvid=4, nlab=3):
    """A ground truth and ACT-style tubes {video: {label: [[float32[n, 6], np.float32 score]]}}: coordinates
    on a 0.25 grid (exact in float32 and in JSON's 3 decimals), so every format holds the same values."""
    videos = [f"{LABELS[v % nlab]}/clip_{v}" for v in range(nvid)]
    gtt, res = {}, {}
    for v in videos:
        x, y = rng.integers(0, 80, 2)
        fr = np.arange(1, 13)
        gtt[v] = {int(rng.integers(0, nlab)): [np.column_stack([fr, x + fr, np.full(12, y), x + fr + 40,
                                                                np.full(12, y + 60)]).astype(np.float32)]}
        res[v] = {}
        for c in range(nlab):
            out = []
            for _ in range(int(rng.integers(0, 5))):
                f0, n = int(rng.integers(1, 4)), int(rng.integers(5, 10))
                box = gtt[v][next(iter(gtt[v]))][0][f0 - 1:f0 - 1 + n, 1:5] + np.round(rng.normal(0, 6, 4) * 4) / 4
                t = np.column_stack([np.arange(f0, f0 + n), box, rng.random(n)]).astype(np.float32)
                out.append([t, np.float32(rng.random())])
            res[v][c] = out
    gt = normalize_gt({"labels": LABELS[:nlab], "gttubes": gtt, "nframes": {v: 12 for v in videos},
                       "test_videos": [videos]})
    return gt, videos, res


def _write(root, res, protocol=pickle.DEFAULT_PROTOCOL):
    for v, per_label in res.items():
        path = root / f"{v}_tubes.pkl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(per_label, protocol=protocol))


@pytest.mark.parametrize("seed", range(4))
def test_equals_act_reference_and_the_json_of_the_same_tubes(tmp_path, seed):
    gt, videos, res = _problem(np.random.default_rng(seed))
    _write(tmp_path / "act", res, protocol=2 if seed % 2 else pickle.DEFAULT_PROTOCOL)  # (ACT ran on Python 2)
    tubes = read_act_tubes_dir(tmp_path / "act", videos, 3)
    got = act_video_ap(gt, videos, tubes, [0.2, 0.5])
    for th in (0.2, 0.5):
        ref = ref_video_ap(gt, videos, res, th)
        assert [got["video_per_class"][f"{th:g}"][str(c)] for c in range(3)] == pytest.approx(ref, abs=1e-6)
    as_json = {v: [{"label": c, "score": float(s), "boxes": t[:, :5]} for c in range(3) for t, s in res[v][c]]
               for v in videos}
    (tmp_path / "t.json").write_text(tubes_to_json(as_json))
    from_json = read_tubes(tmp_path / "t.json", videos, 3)
    for f in ("video", "label", "score", "start", "length"):
        assert np.array_equal(getattr(tubes, f), getattr(from_json, f)), f
    assert np.array_equal(tubes.boxes, from_json.boxes)
    assert act_video_ap(gt, videos, from_json, [0.2, 0.5]) == got


def test_only_the_splits_files_are_opened_and_a_missing_one_is_an_error(tmp_path):
    gt, videos, res = _problem(np.random.default_rng(0))
    _write(tmp_path, res)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "video_tubes.pkl").write_bytes(b"not a pickle")  # not a test video: never read
    assert read_act_tubes_dir(tmp_path, videos, 3).size == sum(len(x) for r in res.values() for x in r.values())
    os.remove(tmp_path / f"{videos[2]}_tubes.pkl")
    with pytest.raises(InputError, match=rf"{videos[2]}_tubes.pkl: missing: ACT's video-AP reads one"):
        read_act_tubes_dir(tmp_path, videos, 3)


def test_a_hostile_pickle_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "v_tubes.pkl").write_bytes(pickle.dumps({0: [[Evil(), 0.5]]}))
    with pytest.raises(InputError, match="v_tubes.pkl: unsafe or invalid pickle: refusing global"):
        read_act_tubes_dir(tmp_path, ["a/v"], 3)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("content,message", [
    ([1, 2], "expected {label index: \\[\\[tube float\\[n, 6\\], score\\], ...\\]}, got a list"),
    ({3: []}, "label key 3: expected a label index in 0..2"),
    ({"0": []}, "label key '0': expected a label index"),
    ({0: [np.zeros((2, 6), np.float32)]}, "label 0, tube 0: expected \\[tube float\\[n, 6\\], score\\]"),
    ({0: [[np.zeros((2, 4), np.float32), 0.5]]}, "label 0, tube 0: expected a numeric array \\[n >= 1, 6\\]"),
    ({1: [[np.zeros((0, 6)), 0.5]]}, "label 1, tube 0: expected a numeric array"),
    ({0: [[np.ones((2, 6)), 0.5], [np.ones((1, 6), bool), 0.5]]}, "label 0, tube 1: expected a numeric array"),
    ({0: [[np.zeros((2, 6)), float("nan")]]}, "label 0, tube 0: the score must be a finite number"),
    ({0: [[np.array([[1, 0, 0, np.inf, 9, 1]]), 0.5]]}, "v_tubes.pkl: label 0: a tube's rows must be finite"),
    ({0: [[np.array([[1, 0, 0, 9, 9, 1], [1, 0, 0, 9, 9, 1]]), 0.5]]}, "tube 0 \\(video 0\\) lists a frame twice"),
])
def test_bad_content_is_one_line_naming_the_file_label_and_tube(tmp_path, content, message):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "v_tubes.pkl").write_bytes(pickle.dumps(content))
    with pytest.raises(InputError, match=message):
        read_act_tubes_dir(tmp_path, ["a/v"], 3)


def test_cli_scores_the_folder_and_warns_when_it_holds_no_tubes(tmp_path, capsys):
    gt, videos, res = _problem(np.random.default_rng(1))
    raw = {"labels": gt["labels"], "gttubes": gt["gttubes"], "nframes": gt["nframes"], "test_videos": [videos]}
    (tmp_path / "gt.pkl").write_bytes(pickle.dumps(raw, protocol=2))
    _write(tmp_path / "act", res)
    out = tmp_path / "r.json"
    assert main(["evaluate", "act", "--gt", str(tmp_path / "gt.pkl"), "--tubes", str(tmp_path / "act"),
                 "--json", str(out)]) == 0
    want = act_video_ap(gt, videos, read_act_tubes_dir(tmp_path / "act", videos, 3))["video_mAP"]
    assert json.loads(out.read_text())["video_mAP"] == want
    _write(tmp_path / "empty", {v: {c: [] for c in range(3)} for v in videos})
    assert main(["evaluate", "act", "--gt", str(tmp_path / "gt.pkl"), "--tubes", str(tmp_path / "empty"),
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["video_mAP"]["0.5"] == 0.0
    assert any("no tubes on the split's videos" in w for w in report["warnings"])
    assert "no tubes on the split's videos" in capsys.readouterr().err


def _py2_pickle(per_label: dict) -> bytes:
    """``per_label`` as Python 2's cPickle writes it at its default protocol 0 (what ACT's Caffe-era code
    wrote): numpy.core.multiarray globals, array data as a latin1 str."""
    def s(b):
        return ("S'" + "".join(chr(c) if 32 <= c < 127 and chr(c) not in "'\\" else f"\\x{c:02x}" for c in b)
                + "'\n").encode("latin1")

    dtype = b"cnumpy\ndtype\n(S'f4'\nI0\nI1\ntR(I3\nS'<'\nNNNI-1\nI-1\nI0\ntb"
    out = b"(d"
    for lab, tubes in per_label.items():
        out += b"I%d\n(l" % lab
        for arr, score in tubes:
            a = np.ascontiguousarray(arr, np.float32)
            out += (b"(lcnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n(I0\ntS'b'\ntR(I1\n(I%d\nI%d\nt"
                    % a.shape + dtype + b"I00\n" + s(a.tobytes()) + b"tba")
            out += b"cnumpy.core.multiarray\nscalar\n(" + dtype + s(np.float32(score).tobytes()) + b"tRaa"
        out += b"s"
    return out + b"."


def test_python2_protocol0_pickles_as_acts_caffe_code_wrote_them(tmp_path):
    gt, videos, res = _problem(np.random.default_rng(5))
    _write(tmp_path / "py3", res)
    for v, per_label in res.items():
        path = tmp_path / "py2" / f"{v}_tubes.pkl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_py2_pickle(per_label))
    assert b"numpy.core.multiarray" in (tmp_path / "py2" / f"{videos[0]}_tubes.pkl").read_bytes()
    a, b = read_act_tubes_dir(tmp_path / "py2", videos, 3), read_act_tubes_dir(tmp_path / "py3", videos, 3)
    assert a.size == b.size > 0
    for f in ("video", "label", "score", "start", "length", "boxes"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
