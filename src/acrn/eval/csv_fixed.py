"""Fixed-layout fast path for numeric CSV blocks: rows of equal length with fields at equal offsets.

Detection files are usually written with fixed formats (``%.3f`` boxes, ``%04d`` timestamps), so a block
of rows reshapes without copying into a ``uint8[n, L]`` matrix. The layout is taken from the first row;
every byte of every row is then checked against it in a few contiguous passes (digits where the first
row has digits, the same separators and dots), and the digits of all numeric fields are combined at once
by a weighted sum of digit columns. Digit products and their sums are integers below 2**24 (float32) or 2**53
(float64), so the product is exact in any summation order; dividing the exact integer mantissa by an
exact power of ten gives the correctly rounded double that Python's ``float()`` returns. Rows that do not
fit the layout make the whole block fall back to the general parser (the caller's choice).

Fields of at most 8 bytes (``0.057``, ``0902``, ``0.1181``: the usual case) are decoded eight bytes at a time
instead (SWAR): the 8 bytes ending at each such field of every row are gathered as one little-endian uint64
(one fancy index over an unaligned word view of the block, all fields at once), the digits' low nibbles kept, the
dot (at the layout's position) squeezed out and the digits combined by up to three multiply-shift rounds
(runs of fields with the same layout, such as the four box coordinates, in one pass); the exact integer
mantissa is then divided by its power of ten as above. The video ids are copied out as whole 8-byte words
(their bytes are checked with the rest: no ',' or newline, nothing below '-', so also no quote or CR).

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
_NAME_LOW = 45  # video id bytes must be >= '-': excludes ',', newline, space, quotes, NUL (else: general parser)
_ALL = (1 << 64) - 1
_CHECK_ROWS = 4096  # rows per piece of the byte check (~200 kB)
_U = np.uint64
_LOW_NIBBLES = 0x0F0F0F0F0F0F0F0F
_M8, _M16 = _U(0x00FF00FF00FF00FF), _U(0x0000FFFF0000FFFF)
_PAIR, _QUAD, _OCT = _U(1 + (10 << 8)), _U(1 + (100 << 16)), _U(1 + (10000 << 32))  # multiply-shift rounds


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
        lo[:seps[0]] = _NAME_LOW  # no ',' or newline in a video id (and no space, quote, NUL, ...)
        self.lo, self.span = lo, hi - lo
        self._plan_words(first, seps)

    def _plan_words(self, first: bytes, seps: list[int]) -> None:
        """Which fields are decoded as 8-byte words (:func:`_decode_words`): ``word_at`` the offsets of the
        words ending with them, ``word_plan`` per run of alike fields (first, end, keep mask, below-the-dot
        mask, digits, scale); the others by digit columns (``loop_weights``); the word offsets of the video
        id (``name_words``, or None where the row is too short to read them)."""
        cols, at, plan = [], [], []
        for j in range(1, self.ncols):
            a, b = seps[j - 1] + 1, seps[j]
            if b - a > 8 or b < 8:
                continue
            keep = (_LOW_NIBBLES >> 8 * (8 - b + a)) << 8 * (8 - b + a)  # the low nibble of the field's bytes
            below = 0  # (the top b - a of the word): an ASCII digit's low nibble is its value
            d = first.find(b".", a, b)
            if d >= 0:
                k = d - (b - 8)  # the dot's byte in the word
                keep &= ~(0xFF << 8 * k) & _ALL
                below = (1 << 8 * k) - 1
            step = (_U(keep), _U(below), b - a - (d >= 0), float(self.scale[j - 1]))
            if plan and plan[-1][1] == len(cols) and tuple(plan[-1][2:]) == step:  # like the field before it:
                plan[-1][1] += 1  # decoded together (e.g. the four box coordinates)
            else:
                plan.append([len(cols), len(cols) + 1, *step])
            cols.append(j - 1), at.append(b - 8)
        self.word_cols, self.word_at = np.array(cols, np.intp), np.array(at, np.intp)
        self.word_plan = [tuple(p) for p in plan]  # (first, end) of a run of fields decoded alike, their masks
        loop = np.ones(self.ncols - 1, bool)
        loop[self.word_cols] = False
        self.loop_weights = np.where(loop[None, :], self.weights, 0.0)
        self.max_digits = int((self.loop_weights > 0).sum(0).max())
        width = seps[0]
        nw = -(-width // 8)
        self.name_words = None
        if 8 * nw <= self.length:
            self.name_words = np.arange(0, 8 * nw, 8)
            self.name_last = np.uint64((1 << 8 * (width - 8 * (nw - 1))) - 1)  # the id's bytes in its last word


_LAYOUTS: dict[tuple, Layout] = {}
_DIGIT0 = bytes.maketrans(b"123456789", b"000000000")


def layout_of(first: bytes, int_cols: tuple[int, ...]) -> Layout:
    """:class:`Layout` of the row ``first``, cached: it depends only on the id's width and on the rest of the
    row with every digit read as '0' (every block of a file has one of a few)."""
    comma = first.find(b",")
    key = (int_cols, comma, first[comma:].translate(_DIGIT0))
    lay = _LAYOUTS.get(key)
    if lay is None:
        if len(_LAYOUTS) >= 64:
            _LAYOUTS.clear()
        lay = _LAYOUTS[key] = Layout(first, int_cols)
    return lay


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
    if len(data) % first == 0:  # equal lengths, maybe: the layout check finds any newline off the grid
        res = _parse_rows(flat, first, int_cols)
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
    """Rows of ``length`` bytes each (uint8[n * length], contiguous) with the first row's layout, else None.

    Returns (names, values float64[n, ncols - 1], in column-major order)."""
    lay = layout_of(flat[:length].tobytes(), int_cols)
    n = flat.size // length
    if not lay.ok:
        return None
    if not _fits(flat, lay, n):
        return None
    rows = flat.reshape(n, length)
    words = np.ndarray((n, length - 7), "<u8", flat, 0, (length, 1)) if length >= 8 else None  # unaligned
    if lay.name_words is not None:
        ids = np.empty((n, lay.name_words.size), np.uint64)  # the id's 8-byte words, bytes past it cleared
        for k, at in enumerate(lay.name_words[:-1]):
            ids[:, k] = words[:, at]
        np.bitwise_and(words[:, lay.name_words[-1]], lay.name_last, out=ids[:, -1])
        names = ids.view(f"S{ids.shape[1] * 8}").ravel()
    else:
        width = int(lay.seps[0])
        ids8 = np.zeros((n, -(-width // 8) * 8), np.uint8)  # names padded with NULs to whole 8-byte words
        ids8[:, :width] = rows[:, :width]
        names = ids8.view(f"S{ids8.shape[1]}").ravel()
    values = np.empty((n, lay.ncols - 1), order="F")
    if lay.word_cols.size:
        dec = _decode_words(words, lay)
        if lay.word_cols.size == values.shape[1]:
            values = dec
        else:
            values[:, lay.word_cols] = dec
    if lay.max_digits:
        _loop_columns(rows, lay, values)
    return names, values


def _fits(flat: np.ndarray, lay: Layout, n: int) -> bool:
    """Every byte of the ``n`` rows within the layout's range (digits where the first row has digits, the same
    separators and dots, id bytes >= '-'): ``byte - lo <= span`` (wrapping below ``lo``), in pieces of
    ``_CHECK_ROWS`` rows (temporaries and tiles stay in the cache)."""
    rows = min(n, _CHECK_ROWS)
    lo, span = _tiled(lay.lo, lay.span, rows)
    off = np.empty(lo.size, np.uint8)
    bad = off.view(np.bool_)
    for a in range(0, flat.size, lo.size):
        m = min(lo.size, flat.size - a)
        np.subtract(flat[a:a + m], lo[:m], out=off[:m])
        if np.greater(off[:m], span[:m], out=bad[:m]).any():
            return False
    return True


def _decode_words(words: np.ndarray, lay: Layout) -> np.ndarray:
    """float64[n, k] (column-major) values of the k fields of at most 8 bytes, from the 8-byte words of every
    row that end with them (``lay.word_at``); every byte already checked against the layout.

    In a field's word the digits are bytes (first digit lowest) with the bytes before the field zeroed:
    leading zeros. Each multiply-shift round combines neighbours (``10 a + b``, then ``100 a + b``, then
    ``10000 a + b``; no sum reaches the next lane), as many rounds as the field has digits for."""
    words = words[:, lay.word_at]  # [n, k] uint64, column-major: one pass over the block
    out = np.empty(words.shape, order="F")
    for i, end, keep, below, digits, scale in lay.word_plan:
        t = words[:, i:end]  # contiguous: fields with the same layout decoded together
        t &= keep  # digits -> 0..9 (their low nibbles), the bytes before the field and the dot -> 0
        if below:  # the digits before the dot move up one byte, over it: t - b + 256 b (no carries)
            b = t & below
            b *= _U(255)
            t += b
        t *= _PAIR  # byte i + 1: 10 d_i + d_(i+1) < 256
        if digits <= 2:
            t >>= _U(56)
        else:
            t >>= _U(8)
            t &= _M8  # pairs in 16-bit lanes
            t *= _QUAD  # lane i + 1: 100 p_i + p_(i+1) < 2**16
            if digits <= 4:
                t >>= _U(48)
            else:
                t >>= _U(16)
                t &= _M16
                t *= _OCT  # the top 32 bits: 10000 q_0 + q_1 < 10**8
                t >>= _U(32)
        if scale == 1.0:
            out[:, i:end] = t.view(np.int64)
        else:  # the exact mantissa / an exact power of ten: correctly rounded
            np.divide(t.view(np.int64), scale, out=out[:, i:end])
    return out


def _loop_columns(rows: np.ndarray, lay: Layout, values: np.ndarray) -> None:
    """Fields longer than 8 bytes: a weighted sum of digit columns (exact, float32 or float64), into ``values``."""
    n = rows.shape[0]
    cols = np.flatnonzero(lay.loop_weights.any(0))
    dtype = np.float32 if lay.max_digits <= _F32_DIGITS else np.float64
    mant = np.empty((cols.size, n), dtype)
    mant[:] = (-48.0 * lay.loop_weights[:, cols].sum(0))[:, None]  # the ASCII '0' of every digit, taken off up front
    for k, i in zip(*np.nonzero(lay.loop_weights[:, cols]), strict=True):  # one strided column per digit position
        mant[i] += rows[:, lay.start + k] * dtype(lay.loop_weights[k, cols[i]])  # (no BLAS: its threads stall on a
    values[:, cols] = (mant / lay.scale[cols, None]).T  # loaded machine); float32 cast in the loop, one pass
