"""AVA file reading: vectorised parser == Python's parsers, one-line errors, label maps."""

import numpy as np
import pytest

from acrn.errors import InputError
from acrn.eval.ava_csv import key_to_str, read_ava_csv, read_exclusions
from acrn.eval.files import evaluate_ava_files
from acrn.eval.labelmap import AVA_V21_60_CLASS_IDS, parse_labelmap_lines, read_labelmap


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_fast_path_equals_python_parsing(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(3000):
        v = ["-5KQ66BBWC4", "_abc", "1j20qq1JyX4"][i % 3 if i < 1500 else int(rng.integers(3))]
        b = rng.random(4) * 1.1 - 0.05
        s = rng.normal() * 10
        fmt = ["%.3f", "%.4f", "%.17g", "%g", "%+.2f", "%.0f"][i % 6]
        rows.append(f"{v},{902 + i % 7:04d},{fmt % b[0]},{b[1]:.3f},{float(b[2])!r},{b[3]:.1f},{1 + i % 80},{fmt % s}")
    rows += ["x,0902,.5,1.,0.5,0.5,3,1e-3", "x,902,0.1,0.1,0.5,0.5,+4,-0.0", "x,0902,0.1,0.1,0.5,0.5,4, 7"]
    p = write(tmp_path, "d.csv", "\n".join(rows))  # no final newline
    monkeypatch.setattr("acrn.eval.csv_blocks.CHUNK_BYTES", 4096)  # many chunks, lines split across reads
    fast = read_ava_csv(p)
    expect = [r.split(",") for r in rows]
    assert fast.labels.tolist() == [int(r[6]) for r in expect]
    assert fast.scores.tolist() == [float(r[7]) for r in expect]
    assert fast.boxes.tolist() == [[float(x) for x in r[2:6]] for r in expect]
    videos = _names(p)
    names = [key_to_str(k, sorted(videos, key=videos.get), "2018") for k in fast.keys]
    assert names == [f"{r[0]},{int(r[1]):04d}" for r in expect]


def _names(p):
    videos = {}
    read_ava_csv(p, videos=videos)
    return videos


@pytest.mark.parametrize("text, match", [
    ("v,0902,0.1,0.1,0.5,0.5,1,0.9\nv,0902,0.1,0.1,0.5,0.5\n", r"d.csv:2: expected 7 or 8 .* got 6"),
    ("v,0902,0.1,0.1,0.5,0.5,1,0.9\nv,0902,0.1,abc,0.5,0.5,1,0.9\n", r"d.csv:2: column 4 \(y1\) must be a number"),
    ("v,0902,0.1,0.1,0.5,0.5,1,nan\n", r"d.csv:1: score must be a finite number"),
    ("v,0902,0.1,0.1,0.5,0.5,1,inf\n", r"d.csv:1: score must be a finite"),
    ("v,0902,12,30,200,180,1,0.5\n", r"d.csv:1: box .* look like pixels"),
    ("v,902.0,0.1,0.1,0.5,0.5,1,0.5\n", r"d.csv:1: timestamp must be integer seconds"),
    ("v,0902,0.1,0.1,0.5,0.5,1.5,0.5\n", r"d.csv:1: column 7 \(action_id\) must be an integer"),
    ("", r"d.csv: file is empty"),
    ("v,0902,0.1,0.1,0.5,0.5,1,0.9\n\n", r"d.csv:2: expected 7 or 8"),
])
def test_bad_rows_give_one_line_errors(tmp_path, text, match):
    with pytest.raises(InputError, match=match) as e:
        read_ava_csv(write(tmp_path, "d.csv", text))
    assert "\n" not in str(e.value)


def test_crlf_quotes_and_2020_decimal_timestamps(tmp_path):
    r = read_ava_csv(write(tmp_path, "d.csv", 'v,0902,0.1,0.1,0.5,0.5,1,0.9\r\n"v",0902,0.1,0.1,0.5,0.5,2,0.8\r\n'))
    assert r.labels.tolist() == [1, 2] and r.keys[0] == r.keys[1]
    v = {}
    r = read_ava_csv(write(tmp_path, "e.csv", "v,902.5,0.1,0.1,0.5,0.5,1,0.9\nv\n".replace("v\n", "v,0903\n")),
                     "2020", v, allow_empty_rows=True)
    assert key_to_str(r.keys[0], list(v), "2020") == "v,902.500000" and r.empty_keys.size == 1
    assert read_ava_csv(write(tmp_path, "f.csv", "v,902,0.1,0.1,0.5,0.5,1\n")).scores.tolist() == [1.0]


def test_slightly_outside_boxes_are_kept_with_a_warning(tmp_path):
    r = read_ava_csv(write(tmp_path, "d.csv", "v,0902,-0.01,0.1,1.02,0.5,1,0.9\n"))
    assert r.boxes[0, 0] == -0.01 and "unclipped" in r.warnings[0]


def test_labelmap_both_styles_and_one_line_items_ignored(tmp_path):
    item = 'item {\n  name: "bend/bow (at the waist)"\n  id: 1\n}\nitem { name: "x" id: 2 }\n'
    label = 'label {\n  name: "stand"\n  label_id: 12\n  label_type: PERSON_MOVEMENT\n}\n'
    assert parse_labelmap_lines((item + label).splitlines(True)) == (
        [{"id": 1, "name": "bend/bow (at the waist)"}, {"id": 12, "name": "stand"}], {1, 12})
    with pytest.raises(InputError, match="no label found"):
        read_labelmap(write(tmp_path, "m.pbtxt", 'item { name: "x" id: 2 }\n'))
    assert len(AVA_V21_60_CLASS_IDS) == 60
    assert set(range(1, 81)) - set(AVA_V21_60_CLASS_IDS) == {2, 16, 18, 19, 21, 23, 25, 31, 32, 33, 35, 39, 40, 42,
                                                             44, 50, 53, 55, 71, 75}


def test_files_end_to_end(tmp_path):
    lm = write(tmp_path, "m.pbtxt", 'item {\n  name: "a"\n  id: 1\n}\nitem {\n  name: "b"\n  id: 3\n}\n')
    gt = write(tmp_path, "gt.csv", "v,0902,0.1,0.1,0.5,0.5,1,0\nv,0903,0.1,0.1,0.5,0.5,1,0\n"
                                   "v,0902,0.1,0.1,0.5,0.5,3,0\n")
    det = write(tmp_path, "det.csv", "v,902,0.1,0.1,0.5,0.5,1,0.9\nv,0903,0.6,0.6,0.9,0.9,1,0.95\n"
                                     "v,0903,0.1,0.1,0.5,0.5,1,0.5\nw,0902,0.1,0.1,0.5,0.5,3,0.99\n"
                                     "v,0902,0.1,0.1,0.5,0.5,2,0.99\nv,0902,0.1,0.1,0.5,0.5,3,0.3\n")
    ex = write(tmp_path, "ex.csv", "v,0903\n")
    r = evaluate_ava_files(gt, det, lm, None, "2018")
    # class 1: FP 0.95, TP 0.9, TP 0.5 -> P 0, 1/2, 2/3 -> AP 0.5*2/3*2 = 2/3; class 3: FP (video w) then TP -> 0.5
    assert r["per_class"] == {"1": pytest.approx(2 / 3), "3": pytest.approx(0.5)}
    assert any("absent from the ground truth" in w for w in r["warnings"])
    r = evaluate_ava_files(gt, det, lm, ex, "2018")
    assert r["per_class"] == {"1": 1.0, "3": 0.5}
    r = evaluate_ava_files(gt, det, lm, None, "2020")
    assert r["per_class"] == {"1": pytest.approx(2 / 3), "3": 1.0}
    assert read_exclusions(ex, "2018", {}).size == 1
