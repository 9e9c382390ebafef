"""The fast paths behind AVA-scale evaluation give exactly what the plain paths give; CLI output errors."""

import csv

import numpy as np
import pytest

from acrn.cli.main import main
from acrn.eval.ap import tp_ranks
from acrn.eval.ava import evaluate_ava, tp_ranks_by_class
from acrn.eval.ava_csv import read_ava_csv, small_pages
from acrn.eval.csv_fixed import parse_fixed


def _fixed_rows(rng, n, fmt_box="{:.3f}", fmt_score="{:.4f}", label_width=2):
    rows = []
    for i in range(n):
        box = rng.random(4)
        rows.append(f"vid{i // 7:04d}x,{902 + i % 3:04d}," + ",".join(fmt_box.format(b) for b in box)
                    + f",{rng.integers(1, 81):0{label_width}d}," + fmt_score.format(rng.random()) + "\n")
    return "".join(rows)


def _python_values(text):
    return np.array([[float(x) for x in row[1:]] for row in csv.reader(text.splitlines())])


@pytest.mark.parametrize("fmt_box, fmt_score", [("{:.3f}", "{:.4f}"), ("{:.6f}", "{:.9f}"), ("{:.2f}", "{:09.1f}")])
def test_parse_fixed_equals_python_float(fmt_box, fmt_score):
    rng = np.random.default_rng(0)
    text = _fixed_rows(rng, 500, fmt_box, fmt_score)
    names, values = parse_fixed(text.encode(), (1, 6))
    assert np.array_equal(values, _python_values(text))  # bit-equal, float32 and float64 digit sums
    assert names[0] == b"vid0000x" and names[-1] == f"vid{499 // 7:04d}x".encode()


@pytest.mark.parametrize("bad", ["v000000x,0902,0.100,0.200,0.300,0.400,01,-.5000\n",  # sign where digits are
                                 "v00,000x,0902,0.100,0.200,0.30,0.400,01,0.5000\n",  # comma in the id
                                 "v000000x,0902,0.100,0.200,0.300,0.400,01,0.5e-1\n",  # exponent
                                 "v000000x,0902,0.100,0.200,0.300,0.400,0.,0.5000\n"])  # dot in an integer
def test_parse_fixed_refuses_rows_off_the_layout(bad):
    good = "v000000x,0902,0.100,0.200,0.300,0.400,01,0.5000\n"
    assert parse_fixed((good * 3).encode(), (1, 6)) is not None
    assert parse_fixed((good * 3 + bad).encode(), (1, 6)) is None


def test_rows_of_one_length_with_two_layouts_are_both_parsed():
    text = "v000000x,0902,0.100,0.200,0.300,0.400,01,0.5000\n" * 3 + "v000000x,0902,0.100,0.200,0.300,0.400,1,0.50001\n"
    names, values = parse_fixed(text.encode(), (1, 6))
    assert np.array_equal(values, _python_values(text)) and names.tolist() == [b"v000000x"] * 4


def test_read_ava_csv_fixed_and_general_paths_agree(tmp_path):
    rng = np.random.default_rng(1)
    fixed = _fixed_rows(rng, 300)
    (tmp_path / "a.csv").write_text(fixed)
    mixed = fixed.replace(",05,", ",5,")  # two line lengths: parsed per length group
    assert parse_fixed(mixed.encode(), (1, 6)) is not None and parse_fixed(fixed.encode(), (1, 6)) is not None
    (tmp_path / "b.csv").write_text(mixed)
    signed = fixed.replace(",0.", ",+0.", 1)  # off every layout: the general parser takes the block
    assert parse_fixed(signed.encode(), (1, 6)) is None
    (tmp_path / "c.csv").write_text(signed)
    a, b, c = (read_ava_csv(tmp_path / f"{x}.csv", "2018", {}) for x in "abc")
    vals = _python_values(fixed)
    for r in (a, b, c):
        assert np.array_equal(r.boxes, vals[:, 1:5]) and np.array_equal(r.scores, vals[:, 6])
        assert r.labels.dtype == np.int32 and np.array_equal(r.labels, vals[:, 5].astype(np.int32))
    assert np.array_equal(a.keys, b.keys) and np.array_equal(a.keys, c.keys)


def test_fixed_layout_keeps_each_readers_integer_columns(tmp_path):
    from acrn.errors import InputError
    from acrn.eval.act_io import read_frame_dets

    rows = "".join(f"vid{i},{i + 1},1,0.9{i},10.5,20.5,30,40.5\n" for i in range(3))
    (tmp_path / "ok.csv").write_text("video,frame,label,score,x1,y1,x2,y2\n" + rows)
    fd = read_frame_dets(tmp_path / "ok.csv")
    assert fd.frame.tolist() == [1, 2, 3] and fd.score.tolist() == [0.90, 0.91, 0.92]
    (tmp_path / "bad.csv").write_text("video,frame,label,score,x1,y1,x2,y2\n" + rows.replace(",1,0.9", ",1.0,0.9"))
    with pytest.raises(InputError, match=r"bad.csv:2: column 3 \(label\) must be an integer"):
        read_frame_dets(tmp_path / "bad.csv")
    (tmp_path / "t.csv").write_text("v,0902.5,0.1,0.1,0.5,0.5,1,0.9\n")
    with pytest.raises(InputError, match="t.csv:1: timestamp must be integer seconds"):
        read_ava_csv(tmp_path / "t.csv", "2018", {})
    assert read_ava_csv(tmp_path / "t.csv", "2020", {}).keys.size == 1


def test_action_ids_beyond_int32_do_not_alias(tmp_path):
    (tmp_path / "gt.csv").write_text("v,0902,0.1,0.1,0.5,0.5,1,1\n")
    (tmp_path / "det.csv").write_text("v,0902,0.1,0.1,0.5,0.5,4294967297,0.9\nv,0902,0.1,0.1,0.5,0.5,1,0.5\n")
    videos = {}
    g, d = read_ava_csv(tmp_path / "gt.csv", "2018", videos), read_ava_csv(tmp_path / "det.csv", "2018", videos)
    r = evaluate_ava(g.keys, g.boxes, g.labels, d.keys, d.boxes, d.labels, d.scores, [1])
    assert r["num_det"] == {"1": 1} and r["per_class"] == {"1": 1.0}  # 2**32 + 1 is not action 1
    assert any("1 detection rows with action ids outside" in w for w in r["warnings"])


@pytest.mark.parametrize("bucket_bits, fine_max", [(14, 40), (2, 40), (3, 8), (14, 8)])  # small: mixed buckets
@pytest.mark.parametrize("case", ["ties", "one_value", "signed_zero", "continuous", "decimals", "huge_range",
                                  "tiny_range", "negative"])
def test_tp_ranks_by_class_equal_a_full_stable_sort(case, bucket_bits, fine_max, monkeypatch):
    monkeypatch.setattr("acrn.eval.ava_rank._BUCKET_BITS", bucket_bits)
    monkeypatch.setattr("acrn.eval.ava_rank._FINE_BITS_MAX", fine_max)
    rng = np.random.default_rng(7)
    n, ncls = 4000, 3
    cls = rng.integers(0, ncls + 1, n)  # class ncls = dropped rows
    scores = {"ties": rng.choice([0.1, 0.2, 0.5], n) + (rng.random(n) < 0.5) * rng.random(n),
              "one_value": np.ones(n), "signed_zero": rng.choice([-0.0, 0.0, 0.3], n),
              "continuous": rng.random(n), "decimals": np.round(rng.random(n), 2),
              "huge_range": rng.choice([-1e308, 1e308, 0.5, 0.25, 5e-324], n) * rng.choice([1, 0.5], n),
              "tiny_range": 1 + rng.integers(0, 4, n) * 2.0 ** -52,  # neighbouring doubles
              "negative": -rng.exponential(3, n).round(3)}[case]
    tp = rng.random(n) < 0.2
    got = tp_ranks_by_class(cls.astype(np.int16), scores, tp, ncls)
    want = tp_ranks(np.where(cls < ncls, cls, ncls), scores, tp, ncls + 1)
    for c in range(ncls):
        members = np.flatnonzero(cls == c)
        o = members[np.lexsort((members, -scores[members]))]
        assert got[c].tolist() == (np.flatnonzero(tp[o]) + 1).tolist() == want[c].tolist()


def test_int32_labels_give_the_same_result():
    rng = np.random.default_rng(3)
    gk, gb = rng.integers(0, 5, 40), np.sort(rng.random((40, 4)), axis=1)[:, [0, 1, 2, 3]]
    gb = np.column_stack([gb[:, 0], gb[:, 1], gb[:, 0] + 0.3, gb[:, 1] + 0.3])
    gl = rng.integers(1, 4, 40)
    dk, dl, ds = rng.integers(0, 6, 400), rng.integers(0, 5, 400), np.round(rng.random(400), 1)
    db = gb[rng.integers(0, 40, 400)] + rng.normal(0, 0.05, (400, 4))
    for proto in ("2018", "2019", "2020"):
        a = evaluate_ava(gk, gb, gl, dk, db, dl, ds, [1, 2, 3], protocol=proto)
        b = evaluate_ava(gk, gb, gl.astype(np.int32), dk, db, dl.astype(np.int32), ds, [1, 2, 3], protocol=proto)
        assert a == b and a["mAP"] > 0


def test_small_pages_restores_numpy_flag():
    from numpy._core import multiarray

    before = multiarray._set_madvise_hugepage(True)
    try:
        with small_pages():
            assert multiarray._set_madvise_hugepage(False) is False  # off inside
        assert multiarray._set_madvise_hugepage(True) is True  # restored
    finally:
        multiarray._set_madvise_hugepage(before)


@pytest.mark.parametrize("flag", ["--json", "--plot"])
@pytest.mark.parametrize("early_check", [True, False])
def test_unwritable_output_is_one_line_error(tmp_path, capsys, monkeypatch, flag, early_check):
    if not early_check:  # the write itself fails: still one line
        monkeypatch.setattr("acrn.cli.evaluate_cmd._check_outputs", lambda args: None)
    (tmp_path / "m.pbtxt").write_text('item {\n  name: "stand"\n  id: 1\n}\n')
    (tmp_path / "gt.csv").write_text("v,0902,0.1,0.1,0.5,0.5,1,1\n")
    (tmp_path / "det.csv").write_text("v,0902,0.1,0.1,0.5,0.5,1,0.9\n")
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "r.out"  # its parent is a regular file
    rc = main(["evaluate", "ava", "--gt", str(tmp_path / "gt.csv"), "--det", str(tmp_path / "det.csv"),
               "--labelmap", str(tmp_path / "m.pbtxt"), flag, str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and f"{flag} {out}" in err and "Traceback" not in err
    rc = main(["evaluate", "ava", "--gt", str(tmp_path / "gt.csv"), "--det", str(tmp_path / "det.csv"),
               "--labelmap", str(tmp_path / "m.pbtxt"), flag, str(tmp_path)])  # a directory
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and flag in err


def test_small_blocks_long_lines_and_a_low_row_estimate(tmp_path, monkeypatch):
    monkeypatch.setattr("acrn.eval.csv_blocks.CHUNK_BYTES", 256)  # files over 64 blocks get an estimated size
    long_rows = "".join(f"{'v' * 40},{902 + i},0.1000000001,0.2,0.3,0.4,1,0.5\n" for i in range(8))
    longer = f"{'u' * 300},0902,0.1,0.2,0.3,0.4,1,0.5\n"  # longer than a block
    short_rows = "".join(f"w,{902 + i % 5},0.1,0.2,0.3,0.4,{1 + i % 3},0.{i % 10}\n" for i in range(3000))
    text = long_rows + longer + short_rows  # the first block's shortest line is long: rows underestimated
    (tmp_path / "d.csv").write_text(text)
    r = read_ava_csv(tmp_path / "d.csv", "2018", {})
    vals = _python_values(text)
    assert np.array_equal(r.boxes, vals[:, 1:5]) and np.array_equal(r.scores, vals[:, 6])
    assert np.array_equal(r.labels, vals[:, 5]) and r.keys.size == 3009
