"""Fixed-layout fast path for numeric CSV blocks: rows of equal length with fields at equal offsets.

Detection files are usually written with fixed formats (``%.3f`` boxes, ``%04d`` timestamps), so a block
of rows reshapes without copying into a ``uint8[n, L]`` matrix. The layout is taken from the first row;
every byte of every row is then checked against it in a few contiguous passes (digits where the first
row has digits, the same separators and dots), and the digits of all numeric fields are combined at once
by a weighted sum of digit columns. Digit products and their sums are integers below 2**24 (float32) or 2**53
(float64), so the product is exact in any summation order; dividing the exact integer mantissa by an
exact power of ten gives the correctly rounded double that Python's ``float()`` returns. Rows that do not
fit the layout make the whole block fall back to the general parser (the caller's choice).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_MAX_DIGITS = 15  # mantissas stay below 2**53
_F32_DIGITS = 7  # ... and below 2**24: float32 products and sums are exact
_MAX_GROUPS = 16  # line lengths per block; more goes to the general parser


class Layout:
    """Byte layout of one row: field boundaries, dot positions and the per-byte check ranges."""

    def __init__(self, first: bytes, int_cols: tuple[int, ...]):
        self.length = len(first)
        seps = [i for i, c in enumerate(first) if c == 44] + [self.length - 1]
        self.ncols = len(seps)
        self.seps = np.array(seps[:-1], dtype=np.int64)
        self.ok = first.endswith(b"\n") and self.ncols >= 2 and seps[0] > 0  # a name and a number at least
        if not self.ok:
            return
        self.start = seps[0] + 1  # first numeric byte (column 0 is the video id)
        lo = np.zeros(self.length, np.uint8)
        hi = np.full(self.length, 255, np.uint8)
        width = self.length - 1 - self.start
        self.weights = np.zeros((width, self.ncols - 1), np.float64)
        self.scale = np.ones(self.ncols - 1, np.float64)
        for j in range(1, self.ncols):
            a, b = seps[j - 1] + 1, seps[j]
            field = first[a:b]
            dots = [k for k, c in enumerate(field) if c == 46]
            digits = [k for k, c in enumerate(field) if 48 <= c <= 57]
            if (not digits or len(dots) > 1 or len(digits) + len(dots) != len(field) or len(digits) > _MAX_DIGITS
                    or (dots and j in int_cols)):
                self.ok = False
                return
            for rank, k in enumerate(reversed(digits)):
                lo[a + k], hi[a + k] = 0, 9
                self.weights[a + k - self.start, j - 1] = 10.0 ** rank
            for k in dots:
                lo[a + k] = hi[a + k] = (46 - 48) & 255
                self.scale[j - 1] = 10.0 ** (b - a - 1 - k)
        for s in seps:
            lo[s] = hi[s] = (first[s] - 48) & 255
        self.lo, self.span = lo, hi - lo
        self.max_digits = int((self.weights > 0).sum(0).max())


@lru_cache(maxsize=32)
def _tiled(lo: bytes, span: bytes, n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.tile(np.frombuffer(lo, np.uint8), n), np.tile(np.frombuffer(span, np.uint8), n)


def parse_fixed(data: bytes, int_cols: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """Parse a newline-terminated block whose rows, grouped by line length, share their group's layout.

    Rows of one length are parsed together (in place when every row has the same length, else gathered
    into one matrix per length); typical files have one or two lengths (action ids of one or two digits).

    Args:
        data: bytes of whole lines, each ``name,num,...,num\n`` (no quotes, no CR: checked by the caller).
        int_cols: 1-based numeric columns that must be integers (no dot).
    Returns:
        (names S[n] first-column bytes, values float64[n, ncols - 1]) in row order, or None when some row
        differs from the layout of its length group (separators, signs, exponents, ...).
    """
    flat = np.frombuffer(data, np.uint8)
    first = data.find(b"\n") + 1
    if first <= 2:
        return None
    if len(data) % first == 0 and data[first - 1::first].count(b"\n") == len(data) // first:
        res = _parse_rows(flat, first, int_cols)  # equal lengths if every newline lands on the grid
        if res is not None:
            return res
    ends = np.flatnonzero(flat == 10)
    if ends.size == 0 or ends[-1] != flat.size - 1:
        return None
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts + 1
    keys, inv = np.unique(_layout_keys(flat, starts, lengths), return_inverse=True)
    if keys.size > _MAX_GROUPS:
        return None
    parts = []
    for g in range(keys.size):
        idx = np.flatnonzero(inv == g)
        length = int(lengths[idx[0]])
        rows = np.lib.stride_tricks.sliding_window_view(flat, length)[starts[idx]]  # [m, length] copy
        res = _parse_rows(rows.ravel(), length, int_cols)
        if res is None or (parts and res[1].shape[1] != parts[0][2].shape[1]):
            return None
        parts.append((idx, *res))
    names = np.empty(starts.size, dtype=f"S{max(p[1].dtype.itemsize for p in parts)}")
    values = np.empty((starts.size, parts[0][2].shape[1]))
    for idx, nm, val in parts:
        names[idx], values[idx] = nm, val
    return names, values


def _layout_keys(flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """uint64[n] per line: its length and comma offsets packed bytewise (lines under 256 bytes with up to 7
    commas each, as AVA rows), else just its length. Lines with one key share a layout candidate."""
    commas = np.flatnonzero(flat == 44)
    n = starts.size
    if commas.size % n or not 0 < commas.size // n <= 7 or lengths.max() > 255:
        return lengths.astype(np.uint64)
    rel = commas.reshape(n, -1) - starts[:, None]
    if (rel[:, 0] < 0).any() or (rel[:, -1] >= lengths - 1).any():  # some line has other comma counts
        return lengths.astype(np.uint64)
    key = lengths.astype(np.uint64)
    for c in range(rel.shape[1]):
        key = (key << np.uint64(8)) | rel[:, c].astype(np.uint64)
    return key


def _parse_rows(flat: np.ndarray, length: int, int_cols: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows of ``length`` bytes each (uint8[n * length]) with the first row's layout, else None."""
    lay = Layout(flat[:length].tobytes(), int_cols)
    n = flat.size // length
    if not lay.ok:
        return None
    ids = np.ascontiguousarray(flat.reshape(n, length)[:, :lay.seps[0]])
    if np.count_nonzero((ids == 44) | (ids == 10)):  # the only bytes the layout check lets through there
        return None
    d = flat - np.uint8(48)
    lo, span = _tiled(lay.lo.tobytes(), lay.span.tobytes(), n)
    d2 = d - lo
    if not (d2 <= span).all():  # every byte in its range: digits, same separators, same dots
        return None
    rows = d.reshape(n, length)
    dtype = np.float32 if lay.max_digits <= _F32_DIGITS else np.float64
    mant = np.zeros((lay.ncols - 1, n), dtype)
    for k, j in zip(*np.nonzero(lay.weights), strict=True):  # one strided column per digit position (no BLAS:
        mant[j] += rows[:, lay.start + k] * dtype(lay.weights[k, j])  # its threads stall on a loaded machine)
    values = (mant.astype(np.float64, copy=False) / lay.scale[:, None]).T
    return ids.view(f"S{int(lay.seps[0])}").ravel(), values
