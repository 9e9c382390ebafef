"""The 8-bytes-at-a-time (SWAR) decoding of fixed-layout CSV blocks equals a naive reader (csv + float) bit
for bit; rows it does not take fall back to the general readers with their values and their errors."""

import csv

import numpy as np
import pytest

from acrn.errors import InputError
from acrn.eval import csv_fixed
from acrn.eval.ava_csv import read_ava_csv
from acrn.eval.ava_stream import KeyframeSegments, stream_detections
from acrn.eval.csv_fixed import parse_fixed


def _naive(text: str) -> tuple[list[bytes], np.ndarray]:
    """The reference: Python's csv module and float() per field."""
    rows = list(csv.reader(text.splitlines()))
    return [r[0].encode() for r in rows], np.array([[float(x) for x in r[1:]] for r in rows])


def _rows(rng, n, box_dec=3, score_dec=4, name="vid{:04d}x", ts_width=4, label_width=2, per_name=7):
    out = []
    for i in range(n):
        box = rng.random(4)
        out.append(f"{name.format(i // per_name)},{902 + i % 3:0{ts_width}d},"
                   + ",".join(f"{b:.{box_dec}f}" for b in box)
                   + f",{rng.integers(1, 81):0{label_width}d},{rng.random():.{score_dec}f}\n")
    return "".join(out)


def _check(text: str):
    res = parse_fixed(text.encode(), (1, 6))
    assert res is not None
    names, values = res
    ref_names, ref = _naive(text)
    assert names.tolist() == ref_names
    assert values.shape == ref.shape and np.array_equal(values, ref)  # bit-equal
    assert np.array_equal(np.signbit(values), np.signbit(ref))


@pytest.mark.parametrize("box_dec, score_dec", [(0, 0), (1, 1), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (6, 9),
                                                (3, 12), (7, 14)])
def test_swar_equals_naive_reader_for_every_number_of_decimals(box_dec, score_dec):
    # up to 8 bytes per field: decoded as words; longer (e.g. 0.1234567, 14 decimals): the digit-column sum
    _check(_rows(np.random.default_rng(box_dec * 31 + score_dec), 300, box_dec, score_dec))


@pytest.mark.parametrize("name", ["v{:d}", "vv{:01d}", "abcdefg{:d}", "{:08d}", "x" * 15 + "{:d}",
                                  "a" * 16 + "{:d}", "clip/{:03d}_é", "UPPER-lower_{:02d}.mp4"])
def test_video_id_widths_and_bytes(name):
    # ids shorter than a word (fields ending before byte 8 of the row: digit columns), of whole words,
    # one byte past a word, UTF-8, and the characters AVA ids use
    text = _rows(np.random.default_rng(1), 200, name=name, per_name=3)
    _check(text)


def test_short_rows_and_wide_ids_keep_exact_values():
    text = "".join(f"{'n' * 20}{i % 3},{i % 10}\n" for i in range(50))  # id words would run past the row
    names, values = parse_fixed(text.encode(), (1,))
    assert names.tolist() == [f"{'n' * 20}{i % 3}".encode() for i in range(50)]
    assert values[:, 0].tolist() == [float(i % 10) for i in range(50)]


@pytest.mark.parametrize("ts, x, s", [("00000000", "0.000000", "9.999999"), ("99999999", "9999999.", ".9999999"),
                                      ("12345678", "1.234567", "0.000001"), ("00000001", "00.00000", "0000000.")])
def test_eight_byte_fields_at_the_limits(ts, x, s):
    text = f"v1,{ts},{x},99999999,{s}\n" * 3 + f"v1,{ts[::-1]},{x[::-1][::-1]},12345678,{s}\n"
    names, values = parse_fixed(text.encode(), ())
    assert np.array_equal(values, _naive(text)[1])


@pytest.mark.parametrize("bad", [
    "vid0000x,0902,0.100,0.200,0.300,0.400,01,5.0e-1\n",  # exponent
    "vid0000x,0902,0.100,0.200,0.300,0.400,01,-0.5000\n",  # sign
    "vid 000x,0902,0.100,0.200,0.300,0.400,01,0.5000\n",  # a space in the id
    "vid+000x,0902,0.100,0.200,0.300,0.400,01,0.5000\n",  # a byte below '-' in the id
    '"vid000x",902,0.100,0.200,0.300,0.400,01,0.5000\n',  # quotes
    "vid0000x,0902,0.100,0.200,0.300,0.400,01,0.5000\r\n",  # CRLF
    "vid0000x,0902,0.100,0.200,0.300,0.400,01,0.50 0\n",  # a space in a number
    "vid0000x,0902,0.100,0.200,0.300,0.400,01,nan\n",
])
def test_unusual_rows_are_refused_and_read_exactly_by_the_general_path(tmp_path, bad):
    good = _rows(np.random.default_rng(2), 40)
    text = good + bad + good
    assert parse_fixed(good.encode(), (1, 6)) is not None
    assert parse_fixed(text.encode(), (1, 6)) is None
    if "nan" in bad or " 0\n" in bad:
        return  # errors (see test_malformed_row_names_file_and_row)
    (tmp_path / "d.csv").write_text(text, newline="")
    r = read_ava_csv(tmp_path / "d.csv", "2018", {})
    ref = _naive(text)[1]
    assert np.array_equal(r.boxes, ref[:, 1:5]) and np.array_equal(r.scores, ref[:, 6])
    assert np.array_equal(r.labels, ref[:, 5].astype(np.int32))


def _read_all(path, protocol="2018"):
    r = read_ava_csv(path, protocol, {})
    return r.keys, r.boxes, r.labels, r.scores


@pytest.mark.parametrize("chunk", [997, 4096, 1 << 20])  # block ends fall mid-row (997: most rows)
def test_block_boundaries_missing_final_newline_and_crlf(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr("acrn.eval.csv_blocks.CHUNK_BYTES", chunk)
    text = _rows(np.random.default_rng(4), 2000, 3, 4) + _rows(np.random.default_rng(5), 500, 2, 6, name="w{:03d}")
    (tmp_path / "a.csv").write_text(text)
    (tmp_path / "b.csv").write_text(text[:-1])  # no final newline
    (tmp_path / "c.csv").write_bytes(text.replace("\n", "\r\n").encode())  # CRLF: the per-row reader
    a, b, c = (_read_all(tmp_path / f"{x}.csv") for x in "abc")
    ref = _naive(text)[1]
    assert np.array_equal(a[1], ref[:, 1:5]) and np.array_equal(a[3], ref[:, 6])
    for other in (b, c):
        for x, y in zip(a, other, strict=True):
            assert np.array_equal(x, y)


@pytest.mark.parametrize("bad, match", [
    ("vid0099x,0902,0.100,0.200,0.300,0.400,01,0.5x00", r"column 8 \(score\) must be a number, got '0.5x00'"),
    ("vid0099x,0902,0.100,0.200,0.300,0.400,01,nan", r"score must be a finite number"),
    ("vid0099x,09.2,0.100,0.200,0.300,0.400,01,0.5000", r"timestamp must be integer seconds"),
    ("vid0099x,0902,0.100,0.200,0.300,0.400,0.1,0.5000", r"column 7 \(action_id\) must be an integer"),
    ("vid0099x,0902,0.100,0.200,0.300,0.400,01,0.5000,7", r"expected 7 or 8 comma-separated columns"),
    ("vid0099x,0902,100.0,200.0,300.0,400.0,01,0.5000", r"box \[100.0, 200.0, 300.0, 400.0\] is not normalised"),
])
def test_malformed_row_names_file_and_row(tmp_path, monkeypatch, bad, match):
    monkeypatch.setattr("acrn.eval.csv_blocks.CHUNK_BYTES", 4096)
    lines = _rows(np.random.default_rng(6), 3000).splitlines()
    lines[2345] = bad  # row 2346, in a later block of fixed-layout rows
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=rf"d.csv:2346: {match}"):
        read_ava_csv(tmp_path / "d.csv", "2018", {})
    with pytest.raises(InputError, match=rf"d.csv:2346: {match}"):  # the streaming reader: the same error
        stream_detections(tmp_path / "d.csv", "2018", {}, _NullAcc())


class _NullAcc:
    def __init__(self):
        self.rows = []

    def add(self, keys, boxes, labels, scores):
        self.rows.append((keys.copy(), boxes.copy(), labels.copy(), scores.copy()))


@pytest.mark.parametrize("segment", [1, 50, 1000])
def test_segments_written_in_place_equal_the_whole_file(tmp_path, monkeypatch, segment):
    monkeypatch.setattr("acrn.eval.csv_blocks.CHUNK_BYTES", 2048)
    lines = _rows(np.random.default_rng(7), 1500, per_name=400).splitlines(keepends=True)
    text = "".join(sorted(lines, key=lambda x: x.split(",")[:2]))  # keyframes of ~130 rows, across blocks
    (tmp_path / "d.csv").write_text(text)
    whole = _read_all(tmp_path / "d.csv")
    acc = _NullAcc()
    stream_detections(tmp_path / "d.csv", "2018", {}, acc, rows=segment)
    got = [np.concatenate([p[i] for p in acc.rows]) for i in range(4)]
    for x, y in zip(whole, got, strict=True):
        assert np.array_equal(x, y)
    for keys, *_ in acc.rows:  # whole keyframes per segment
        assert not np.isin(keys[-1:], np.concatenate([p[0] for p in acc.rows if p[0] is not keys])).any()


def test_segments_copy_rows_from_other_readers():
    acc = _NullAcc()
    seg = KeyframeSegments(acc, rows=4)
    for k in (1, 1, 2, 2, 2, 3):
        seg(np.array([k]), np.array([[0.1, 0.2, 0.3, 0.4]]), np.array([k], np.int32), np.array([0.5]))
    seg.flush()
    assert [p[0].tolist() for p in acc.rows] == [[1, 1], [2, 2, 2], [3]]  # whole keyframes


def test_layout_cache_gives_each_layout_its_own_plan():
    csv_fixed._LAYOUTS.clear()
    a = "v1,0902,0.100,0.200,0.300,0.400,01,0.5000\n"
    b = "v2,0903,0.1,0.2,0.3,0.4,1,0.5\n"
    for text in (a * 3, b * 3, a * 3):
        _check(text)
    assert len(csv_fixed._LAYOUTS) == 2
