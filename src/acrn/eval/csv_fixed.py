"""Fixed-layout fast path for numeric CSV blocks: rows of equal length with fields at equal offsets.

Detection files are usually written with fixed formats (``%.3f`` boxes, ``%04d`` timestamps), so a block
of rows reshapes without copying into a ``uint8[n, L]`` matrix. The layout is taken from the first row;
every byte of every row is then checked against it in a few contiguous passes (digits where the first
row has digits, the same separators and dots), and the digits of all numeric fields are combined at once
by a weighted sum of digit columns. Digit products and their sums are integers below 2**24 (float32) or 2**53
(float64), so the product is exact in any summation order; dividing the exact integer mantissa by an
exact power of ten gives the correctly rounded double that Python's ``float()`` returns. Rows that do not
fit the layout make the whole block fall back to the general parser (the caller's choice).

Files written with ``%d`` (unpadded action ids, seconds) have a few line lengths per block: rows are then
grouped by length (a count table), each group gathered whole into its own matrix and parsed with its own
layout, and the results scattered back to file order; a length group holding several layouts (``999,12``
and ``1000,1``) is split by its rows' comma positions.
"""

from __future__ import annotations

import numpy as np

_MAX_DIGITS = 15  # mantissas stay below 2**53
_F32_DIGITS = 6  # ... and with ASCII codes (48..57) below 2**24: float32 products and sums are exact
_MAX_GROUPS = 16  # row groups (line lengths or layouts) per block; more goes to the general parser


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
                lo[a + k], hi[a + k] = 48, 57
                self.weights[a + k - self.start, j - 1] = 10.0 ** rank
            for k in dots:
                lo[a + k] = hi[a + k] = 46
                self.scale[j - 1] = 10.0 ** (b - a - 1 - k)
        for s in seps:
            lo[s] = hi[s] = first[s]
        self.lo, self.span = lo, hi - lo
        self.max_digits = int((self.weights > 0).sum(0).max())


_TILE_CACHE: dict[tuple[bytes, bytes], tuple[np.ndarray, np.ndarray]] = {}


def _tiled(lo: np.ndarray, span: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``lo`` and ``span`` repeated for ``n`` rows: slices of a cached tiling for a power-of-two row count
    (groups of variable-width rows have a different size in every block)."""
    key = (lo.tobytes(), span.tobytes())
    tiles = _TILE_CACHE.get(key)
    if tiles is None or tiles[0].size < n * lo.size:
        if len(_TILE_CACHE) >= 16:
            _TILE_CACHE.clear()
        rows = 1 << max(0, n - 1).bit_length()
        tiles = _TILE_CACHE[key] = np.tile(lo, rows), np.tile(span, rows)
    return tiles[0][:n * lo.size], tiles[1][:n * lo.size]


def parse_fixed(data: bytes, int_cols: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """Parse a newline-terminated block whose rows, grouped by layout, share their group's layout.

    Every row has one layout when every row has the same length (parsed in place). Otherwise rows are
    grouped by line length (variable-width fields such as unpadded action ids or timestamps), each group
    gathered into one matrix and checked against its first row; only if some group holds rows of one length
    with different layouts are they grouped by length and comma offsets instead.

    Args:
        data: bytes of whole lines, each ``name,num,...,num\n`` (no quotes, no CR: checked by the caller).
        int_cols: 1-based numeric columns that must be integers (no dot).
    Returns:
        (names S[n] first-column bytes NUL-padded to whole 8-byte words, values float64[n, ncols - 1]) in
        row order, or None when some row differs from the layout of its group (separators, signs,
        exponents, ...) or there are more than ``_MAX_GROUPS`` groups.
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
    return _parse_groups(flat, starts, lengths, _length_groups(lengths), int_cols)


def _length_groups(lengths: np.ndarray) -> list[np.ndarray] | None:
    """Row indices per distinct line length (a count table, no sort), or None beyond ``_MAX_GROUPS``."""
    lo = int(lengths.min())
    if int(lengths.max()) - lo >= 1 << 16:
        return None
    present = np.flatnonzero(np.bincount(lengths - lo)) + lo
    if present.size > _MAX_GROUPS:
        return None
    return [np.flatnonzero(lengths == length) for length in present]


def _parse_groups(flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray, groups: list[np.ndarray] | None,
                  int_cols: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """Parse each group of rows (indices, all of one length) with its own layout; results in row order."""
    if groups is None:
        return None
    parts: list[tuple] = []
    for idx in groups:
        if not _parse_group(flat, idx, starts[idx], int(lengths[idx[0]]), int_cols, parts):
            return None
    if any(p[2].shape[1] != parts[0][2].shape[1] for p in parts):
        return None
    names = np.empty(starts.size, dtype=f"S{max(p[1].dtype.itemsize for p in parts)}")
    columns = np.empty((parts[0][2].shape[1], starts.size))
    for idx, nm, val in parts:
        names[idx] = nm
        columns[:, idx] = val.T
    return names, columns.T


def _parse_group(flat: np.ndarray, idx: np.ndarray, starts: np.ndarray, length: int, int_cols: tuple[int, ...],
                 parts: list[tuple]) -> bool:
    """Append (row indices, names, values) of rows ``idx`` (all ``length`` bytes) to ``parts``; False if off
    the layout. Rows of equal length with other field widths (``v,999,..,12,`` and ``v,1000,..,1,``) are
    split by their comma positions and each part parsed with its own layout."""
    every = np.ndarray((flat.size - length + 1,), f"V{length}", flat, strides=(1,))  # a row at every byte
    rows = every[starts].view(np.uint8)  # one gather, a memcpy per row
    res = _parse_rows(rows, length, int_cols)
    if res is not None:
        parts.append((idx, *res))
        return True
    mat = rows.reshape(idx.size, length)
    commas = np.packbits(mat == 44, axis=1)
    keys, inv = np.unique(commas.view(f"S{commas.shape[1]}").ravel(), return_inverse=True)
    if keys.size == 1 or keys.size > _MAX_GROUPS:
        return False
    for k in range(keys.size):
        sel = np.flatnonzero(inv.ravel() == k)
        res = _parse_rows(mat[sel].ravel(), length, int_cols)
        if res is None:
            return False
        parts.append((idx[sel], *res))
    return True


def _parse_rows(flat: np.ndarray, length: int, int_cols: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows of ``length`` bytes each (uint8[n * length]) with the first row's layout, else None."""
    lay = Layout(flat[:length].tobytes(), int_cols)
    n = flat.size // length
    if not lay.ok:
        return None
    rows = flat.reshape(n, length)
    width = int(lay.seps[0])
    ids = np.zeros((n, -(-width // 8) * 8), np.uint8)  # names padded with NULs to whole 8-byte words
    ids[:, :width] = rows[:, :width]
    if np.count_nonzero((ids == 44) | (ids == 10)):  # the only bytes the layout check lets through there
        return None
    lo, span = _tiled(lay.lo, lay.span, n)
    off = np.subtract(flat, lo)  # wraps below lo: one pass checks both bounds (one temporary, reused)
    if np.greater(off, span, out=off.view(np.bool_)).any():  # digits, the same separators and dots
        return None
    dtype = np.float32 if lay.max_digits <= _F32_DIGITS else np.float64
    mant = np.empty((lay.ncols - 1, n), dtype)
    mant[:] = (-48.0 * lay.weights.sum(0))[:, None]  # the ASCII '0' of every digit, taken off up front
    for k, j in zip(*np.nonzero(lay.weights), strict=True):  # one strided column per digit position (no BLAS:
        mant[j] += rows[:, lay.start + k] * dtype(lay.weights[k, j])  # its threads stall on a loaded machine)
    values = np.divide(mant, lay.scale[:, None])  # [ncols - 1, n] float64: float32 cast in the loop, one pass
    return ids.view(f"S{ids.shape[1]}").ravel(), values.T
