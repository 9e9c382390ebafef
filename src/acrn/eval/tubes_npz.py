"""Compact tubes file (``.npz``): the tubes JSON's content as six numpy arrays, read without parsing text.

``acrn link -o tubes.npz`` writes it, ``acrn evaluate act --tubes`` reads it (recognised by its zip magic, any
file name); the JSON stays the interchange format. The values are the JSON's: frames as integers, boxes
rounded by Python's ``round(x, 3)`` (the same doubles ``json.loads`` gives back), so both files score bit for
bit the same. Arrays (T tubes over V videos, R box rows), stored uncompressed (reading is a copy):

* ``names`` str[V] video ids, ``video`` int64[T] index into ``names`` (non-decreasing: grouped by video);
* ``label`` int64[T], ``score`` float64[T], ``counts`` int64[T] box rows per tube (each >= 1);
* ``rows`` float64[R, 5] (frame, x1, y1, x2, y2), the tubes' rows concatenated in tube order.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from acrn.errors import InputError


@dataclass
class ParsedTubes:
    """T tubes over V videos: names list[str] [V], video int[T], label int[T], score float64[T], counts int[T]
    (box rows per tube), rows float64[R, 5] (frame, x1, y1, x2, y2) concatenated in tube order."""

    names: list[str]
    video: np.ndarray
    label: np.ndarray
    score: np.ndarray
    counts: np.ndarray
    rows: np.ndarray


NPZ_MAGIC = b"PK\x03\x04"
_KEYS = ("names", "video", "label", "score", "counts", "rows")


def tubes_to_npz(tubes: dict[str, list[dict]]) -> bytes:
    """``{video: [{"label", "score", "boxes" float[n, 5]}]}`` -> the bytes of the ``.npz`` file."""
    names = list(tubes)
    flat = [(vi, t) for vi, v in enumerate(names) for t in tubes[v]]
    # the JSON writer's rounding, element by element: np.round can differ from round() in the last bit
    rows = [[int(r[0])] + [round(float(x), 3) for x in r[1:5]] for _, t in flat for r in np.asarray(t["boxes"])]
    arrays = {"names": np.array(names, dtype=str), "video": np.array([vi for vi, _ in flat], np.int64),
              "label": np.array([int(t["label"]) for _, t in flat], np.int64),
              "score": np.array([float(t["score"]) for _, t in flat], np.float64),
              "counts": np.array([len(t["boxes"]) for _, t in flat], np.int64),
              "rows": np.array(rows, np.float64).reshape(-1, 5)}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def parse_tubes_npz(path: Path, raw) -> ParsedTubes:
    """The arrays of a ``.npz`` tubes file (``raw``: its bytes or a read-only ``mmap`` of it), checked for shapes
    and consistency (values: by the caller)."""
    try:
        a = _stored_arrays(raw)
        if a is None:  # compressed (np.savez_compressed) or unusual members: numpy's reader
            with np.load(io.BytesIO(raw), allow_pickle=False) as z:
                a = {k: z[k] for k in _KEYS}
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as e:
        raise InputError(f"{path}: not a tubes .npz (arrays {', '.join(_KEYS)}): {e}") from None
    t = a["video"].shape[0] if a["video"].ndim == 1 else -1
    shapes_ok = (a["names"].ndim == 1 and a["names"].dtype.kind == "U" and t >= 0
                 and all(a[k].shape == (t,) for k in ("label", "score", "counts"))
                 and a["rows"].ndim == 2 and a["rows"].shape[1] == 5
                 and all(a[k].dtype.kind in "iu" for k in ("video", "label", "counts"))
                 and a["score"].dtype.kind == "f" and a["rows"].dtype.kind in "fiu")
    if not shapes_ok:
        raise InputError(f"{path}: tubes .npz arrays have the wrong shapes or types ({_describe(a)})")
    video, counts = a["video"].astype(np.int64), a["counts"].astype(np.int64)
    if t and (counts.min() < 1 or video.min() < 0 or video.max() >= a["names"].size or (np.diff(video) < 0).any()):
        raise InputError(f"{path}: tubes .npz: counts must be >= 1 and video non-decreasing indices into names")
    if int(counts.sum()) != a["rows"].shape[0]:
        raise InputError(f"{path}: tubes .npz: counts add up to {int(counts.sum())}, rows has {a['rows'].shape[0]}")
    return ParsedTubes(a["names"].tolist(), video, a["label"].astype(np.int64), a["score"].astype(np.float64),
                       # A copy: views of a mapped file would crash the process (SIGBUS) if the file were
                       # truncated while the tubes are alive; the copy costs ~0.04 s at JHMDB scale.
                       counts, a["rows"].astype(np.float64))


def _stored_arrays(raw) -> dict | None:
    """The arrays of an uncompressed ``.npz`` as views of ``raw`` (no copy, no CRC pass: ~0.3 s less for 90 MB),
    or None when a member is compressed, holds objects or is not a plain ``.npy``."""
    out = {}
    with zipfile.ZipFile(io.BytesIO(raw) if isinstance(raw, bytes) else raw) as z:  # (BytesIO copies an mmap)
        for k in _KEYS:
            info = z.getinfo(f"{k}.npy")
            h = info.header_offset
            if info.compress_type != zipfile.ZIP_STORED or raw[h:h + 4] != NPZ_MAGIC:
                return None
            start = h + 30 + int.from_bytes(raw[h + 26:h + 28], "little") + int.from_bytes(raw[h + 28:h + 30], "little")
            f = io.BytesIO(raw[start:start + min(info.file_size, 1 << 16)])
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(np.lib.format.read_magic(f))
            if read_header is None:
                return None
            shape, fortran, dtype = read_header(f)
            count = int(np.prod(shape, dtype=np.int64))
            if fortran or dtype.hasobject or f.tell() + count * dtype.itemsize > info.file_size:
                return None
            out[k] = np.frombuffer(raw, dtype, count, start + f.tell()).reshape(shape)
    return out


def _describe(a: dict) -> str:
    return ", ".join(f"{k} {a[k].dtype}{list(a[k].shape)}" for k in _KEYS)
