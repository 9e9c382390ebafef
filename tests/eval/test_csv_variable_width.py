"""Unpadded (variable-width) CSV rows on the fast path: values equal Python's, errors keep their line."""

import csv

import numpy as np
import pytest

from acrn.errors import InputError
from acrn.eval import csv_fixed
from acrn.eval.ava_csv import read_ava_csv
from acrn.eval.csv_fixed import parse_fixed


def _python_values(text):
    return np.array([[float(x) for x in row[1:]] for row in csv.reader(text.splitlines())])


def _unpadded_rows(rng, n, nvid=3):
    """Rows as most writers print them (``%d`` ids and seconds): lengths vary with the digits."""
    rows = []
    for i in range(n):
        box = rng.random(4)
        t = int(rng.choice([902, 999, 1000, 1798]))
        rows.append(f"video{i * nvid // n},{t}," + ",".join(f"{b:.3f}" for b in box)
                    + f",{int(rng.integers(1, 81))},{rng.random():.4f}\n")
    return "".join(rows)


def test_hand_checked_unpadded_rows():
    text = ("v,902,0.057,0.241,0.182,0.493,1,0.1181\n"
            "v,1000,0.100,0.200,0.300,0.400,12,0.5000\n"
            "v,999,0.100,0.200,0.300,0.400,60,0.9990\n")  # lengths 39, 41, 40
    names, values = parse_fixed(text.encode(), (1, 6))
    assert names.tolist() == [b"v"] * 3
    assert values.tolist() == [[902, 0.057, 0.241, 0.182, 0.493, 1, 0.1181],
                               [1000, 0.1, 0.2, 0.3, 0.4, 12, 0.5],
                               [999, 0.1, 0.2, 0.3, 0.4, 60, 0.999]]


def test_equal_lengths_with_other_field_widths_are_split_by_commas():
    # 999 and 12 take as many bytes as 1000 and 1: one line length, two layouts, interleaved
    text = "".join(["v,999,0.100,0.200,0.300,0.400,12,0.5000\n", "v,1000,0.100,0.200,0.300,0.400,1,0.2500\n"] * 5)
    assert len(set(map(len, text.splitlines()))) == 1
    names, values = parse_fixed(text.encode(), (1, 6))
    assert np.array_equal(values, _python_values(text))
    assert values[:2, 0].tolist() == [999, 1000] and values[:2, 5].tolist() == [12, 1]


@pytest.mark.parametrize("seed", [0, 1])
def test_many_lengths_mixed_in_one_block(seed):
    rng = np.random.default_rng(seed)
    text = _unpadded_rows(rng, 2000)
    lines = text.splitlines()
    lines[5] = lines[5].replace(",0.", ",0.00", 1)  # a wider first box field: another layout
    text = "\n".join(lines) + "\n"
    assert 4 <= len(set(map(len, text.splitlines()))) <= csv_fixed._MAX_GROUPS
    names, values = parse_fixed(text.encode(), (1, 6))
    assert np.array_equal(values, _python_values(text))  # bit-equal to float() in file order
    assert names.tolist() == [r.split(",")[0].encode() for r in text.splitlines()]


def test_more_layouts_than_groups_fall_back_and_still_read(tmp_path):
    rows = "".join(f"v,{902 + i},{0.5:.{1 + i % 17}f},0.2,0.3,0.4,{1 + i},0.{i}\n" for i in range(40))
    assert parse_fixed(rows.encode(), (1, 6)) is None  # 17+ layouts: the general parser takes the block
    (tmp_path / "d.csv").write_text(rows)
    r = read_ava_csv(tmp_path / "d.csv", "2018", {})
    vals = _python_values(rows)
    assert np.array_equal(r.boxes, vals[:, 1:5]) and np.array_equal(r.scores, vals[:, 6])
    assert r.labels.tolist() == list(range(1, 41))


def test_unpadded_file_equals_padded_file(tmp_path, monkeypatch):
    monkeypatch.setattr("acrn.eval.csv_blocks.CHUNK_BYTES", 4096)  # many blocks, lines split across reads
    rng = np.random.default_rng(3)
    text = _unpadded_rows(rng, 3000)
    padded = "".join(f"{r[0]},{int(r[1]):04d},{','.join(r[2:6])},{int(r[6]):02d},{r[7]}\n"
                     for r in csv.reader(text.splitlines()))
    (tmp_path / "u.csv").write_text(text)
    (tmp_path / "p.csv").write_text(padded)
    u, p = read_ava_csv(tmp_path / "u.csv", "2018", {}), read_ava_csv(tmp_path / "p.csv", "2018", {})
    for a, b in ((u.keys, p.keys), (u.boxes, p.boxes), (u.labels, p.labels), (u.scores, p.scores)):
        assert np.array_equal(a, b)
    assert np.array_equal(u.scores, _python_values(text)[:, 6])


@pytest.mark.parametrize("bad, match", [
    ("video1,1000,0.100,0.2x0,0.300,0.400,7,0.5000", r"column 4 \(y1\) must be a number"),
    ("video1,1000,0.100,0.200,0.300,0.400,7.0,0.5000", r"column 7 \(action_id\) must be an integer"),
    ("video1,1000,0.100,0.200,0.300,0.400,7", None),  # 7 columns: a ground-truth style row is fine
    ("video1,1000,0.100,0.200,0.300", r"expected 7 or 8 comma-separated columns"),
])
def test_bad_row_in_the_middle_of_an_unpadded_block_names_its_line(tmp_path, monkeypatch, bad, match):
    monkeypatch.setattr("acrn.eval.csv_blocks.CHUNK_BYTES", 8192)
    rng = np.random.default_rng(5)
    lines = _unpadded_rows(rng, 1500).splitlines()
    lines[1234] = bad  # line 1235, inside a later block
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    if match is None:
        assert read_ava_csv(tmp_path / "d.csv", "2018", {}).scores[1234] == 1.0
        return
    with pytest.raises(InputError, match=rf"d.csv:1235: {match}"):
        read_ava_csv(tmp_path / "d.csv", "2018", {})
