"""Vectorised reading of the tubes JSON ``{video: [{"label", "score", "boxes": [[frame, x1, y1, x2, y2]]}]}``.

``json.loads`` turns 2M box rows into 11M Python floats (seconds, and about a GB). This reader scans the bytes
(or a memory map of the file) with numpy instead, for the layout ``json.dumps`` writes (``", "`` and ``": "``
separators, keys in the order label, score, boxes). The quotes are found first, in one pass; blocks of about
``BLOCK_BYTES`` end right after a ``]`` outside strings, so they are independent and scanned in ``THREADS``
threads (numpy's loops release the GIL). Per block: string contents are blanked; every other byte is either
structure (``[]{}",:`` and the space) or part of a number token; every space must follow a ``,`` or ``:`` and
every ``,``/``:`` be followed by one; every token sits after ``": "``, ``", "`` or ``[`` and before ``,`` or
``]``. A ``[`` right before a token opens a box row, and rows must hold exactly five tokens: so rows are
checked from their tokens alone, and the bracket nesting (top object, video lists, tubes, boxes lists) on
the other brackets, a few per tube. Then every byte between the document's parts is checked where the layout
puts it, and the comma and colon counts against the layout's. Numbers of up to 8 bytes are decoded eight
bytes at a time (exact decimal mantissa / power of ten: the correctly rounded double that Python's ``float``
returns), longer ones checked against JSON's number grammar and converted by numpy's string-to-double cast
(also correctly rounded), so the values equal ``json.loads``'s bit for bit. Anything else (escapes,
literals, other keys or key order, other spacing) returns None and the caller uses ``json.loads``, which also
gives the error messages.
"""

from __future__ import annotations

import mmap
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from acrn.eval.numparse import digits8, value8
from acrn.eval.tubes_npz import ParsedTubes

BLOCK_BYTES = 1 << 20  # ~120k numbers per block (measured at JHMDB scale: 512 kB 10% slower, 128 kB 2x)
THREADS = 2  # blocks scanned at once (two threads: ~1.25x on our 2-vCPU machines)
_THREADED_BYTES = 1 << 22  # smaller documents are scanned in the calling thread
_PAD = 8  # spaces before a block's bytes (8-byte words end at every token), 2 after
_OPEN_L, _CLOSE_L, _OPEN_O, _CLOSE_O = 91, 93, 123, 125  # [ ] { }: a close is its open + 2
_LEVELS = (_OPEN_O, _OPEN_L, _OPEN_O, _OPEN_L)  # depth 1..4: top object, video list, tube, boxes (rows apart)
_NUMBER = rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_JSON_NUMBER = re.compile(_NUMBER + rb"\Z")
_JSON_RECORDS = re.compile(rb"(?:" + _NUMBER + rb"\x00+)*")  # NUL-padded fixed-width records
_WS = b" \t\r\n"
_U = np.uint64
_LONG_WIDTH = 32  # tokens up to this long that the 8-byte decoder leaves are decoded together by numpy


def _numbers(blk: np.ndarray, s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Values, has-dot flags and the byte before each number token ``blk[s:e]`` (``s >= 8``), or None if one
    is not a JSON number: :func:`_short_numbers`, then :func:`_long_numbers` for the tokens it leaves."""
    short = _short_numbers(blk, s, e)
    if short is None:
        return None
    val, dot, p1, rest = short
    if rest.size:
        long = _long_numbers(blk, s[rest], e[rest])
        if long is None:
            return None
        val[rest], dot[rest] = long
    return val, dot, p1


def _short_numbers(blk: np.ndarray, s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, ...] | None:
    """(values, has-dot flags, the byte before each token, indices of the tokens left to :func:`_long_numbers`
    (their values unset)) for number tokens ``blk[s:e]`` (``s >= 8``), or None if one is not a JSON number.

    One 8-byte gather per token (its last eight bytes) and two byte gathers carry everything: tokens of at
    most 8 bytes are decoded by :func:`acrn.eval.numparse.digits8` / ``value8`` (exact), with JSON's
    rules (a digit after the optional '-', no leading zeros, no dot first or last; "-0" is the integer 0)."""
    p1, neg = blk[s - 1], blk[s] == 45
    t, n, idx, ok = digits8(blk, s, e, neg)
    dot = idx < 8
    top = (_U(8) * (_U(8) - n.astype(_U)))  # the first digit's bit offset (n >= 1 where ok)
    d0 = (t >> top) & _U(0xFF)  # the first byte after the optional '-', XOR '0'
    if np.any(ok & ((d0 == 0x1E) | (idx == 7))):
        return None  # '.5', '5.' ('.' XOR '0' = 0x1E)
    zero = np.flatnonzero(ok & (d0 == 0) & (n >= 2))  # '0' then a dot, or a leading zero ('01', '-01')
    if zero.size and np.any((t[zero] >> (top[zero] + _U(8))) & _U(0xFF) != 0x1E):
        return None
    val, t = value8(t, idx)
    minus = np.flatnonzero(neg)
    val[minus[dot[minus] | (t[minus] != 0)]] *= -1.0  # "-0" is the integer 0 (+0.0), "-0.0" stays -0.0
    return val, dot, p1, np.flatnonzero(~ok)


def _long_numbers(blk: np.ndarray, s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(values, has-dot-or-exponent flags) of the tokens ``blk[s:e]`` the 8-byte path left (long mantissas as
    ``repr`` writes scores, exponents), or None if one is not a JSON number: checked against JSON's number
    grammar, converted by numpy's string-to-double cast (correctly rounded, as Python's ``float``). Its fixed
    cost is ~0.5 ms, so the document's long tokens are decoded in one call."""
    width = int((e - s).max()) + 1  # at least one NUL after each token: records cannot run together
    if width > _LONG_WIDTH:
        texts = [blk[a:b].tobytes() for a, b in zip(s, e, strict=True)]
        if not all(_JSON_NUMBER.match(text) for text in texts):
            return None
        return (np.array([float(x) for x in texts]),
                np.array([b"." in x or b"e" in x.lower() for x in texts], dtype=bool))
    cols = np.arange(width)
    inside = cols < (e - s)[:, None]
    mat = np.where(inside, blk[np.minimum(s[:, None] + cols, blk.size - 1)], 0).astype(np.uint8)
    other = ~_plain_decimals(mat, inside)
    if other.any() and (np.any((mat[other] == 0) & inside[other]) or
                        not _JSON_RECORDS.fullmatch(mat[other].tobytes())):
        return None  # a NUL inside a token, or not JSON's number grammar
    return (mat.view(f"S{width}").ravel().astype(np.float64),
            np.any(inside & ((mat == 46) | ((mat | 32) == 101)), axis=1))


def _plain_decimals(mat: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Rows of ``mat`` (tokens, NUL-padded) that are JSON numbers without exponent: an optional '-', digits
    without a leading zero, at most one dot with digits on both sides (the usual long token: a score)."""
    neg = mat[:, 0] == 45
    body = inside.copy()
    body[:, 0] &= ~neg
    digit = (mat >= 48) & (mat <= 57)
    isdot = mat == 46
    length = inside.sum(1)
    first = neg.astype(np.intp)
    rows = np.arange(mat.shape[0])
    d0 = mat[rows, first]
    d1 = mat[rows, np.minimum(first + 1, mat.shape[1] - 1)]
    return (np.all(~body | digit | isdot, axis=1) & (isdot.sum(1) <= 1) & (d0 >= 48) & (d0 <= 57)
            & (mat[rows, length - 1] != 46) & ((d0 != 48) | (length - first == 1) | (d1 == 46)))


def _find_quotes(arr: np.ndarray, mapper) -> tuple[np.ndarray, int]:
    """Positions of every '"' in ``arr`` (there are no escapes: every one opens or closes a string), and the
    number of '[' bytes."""
    step = 1 << 22
    parts = list(mapper(lambda a: (np.flatnonzero(arr[a:a + step] == 34) + a,
                                   int(np.count_nonzero(arr[a:a + step] == _OPEN_L))), range(0, arr.size, step)))
    return np.concatenate([np.zeros(0, np.intp), *(p[0] for p in parts)]), sum(p[1] for p in parts)


def _cuts(data: bytes, lo: int, hi: int, quotes: np.ndarray) -> list[int]:
    """Bounds of blocks of ``data[lo:hi]`` (offsets from ``lo``): each ends right after a ']' outside strings
    (no token, key or string is cut)."""
    bounds = [0]
    while bounds[-1] < hi - lo:
        b = data.find(b"]", lo + bounds[-1] + BLOCK_BYTES, hi) + 1
        while b and np.searchsorted(quotes, b - 1 - lo) % 2:  # that ']' is inside a string
            b = data.find(b"]", b, hi) + 1
        bounds.append(b - lo if b else hi - lo)
    return bounds


def _blank_strings(blk: np.ndarray, q: np.ndarray) -> None:
    """Set the bytes between each pair of quotes ``q`` (block positions) to '"', in place."""
    starts, ends = q[0::2] + 1, q[1::2]
    n = ends - starts
    blk[np.repeat(starts - np.cumsum(np.concatenate([[0], n[:-1]])), n) + np.arange(int(n.sum()))] = 34


def _scan(arr: np.ndarray, a: int, b: int, quotes: np.ndarray) -> tuple | None:
    """Scan ``arr[a:b]`` (whole strings, whole rows): (non-row brackets: positions, bytes; rows: '[' and ']'
    positions; tube tokens: starts, ends, values, has-dot flags; tokens left to :func:`_long_numbers`: starts,
    ends, places (k >= 0: tube token k, else row value -1 - k, of this block); row values; comma count; colon
    count), or None where the layout differs. Positions are offsets into ``arr``."""
    n = b - a
    blk = np.empty(n + _PAD + 2, np.uint8)
    blk[:_PAD], blk[_PAD + n:] = 32, 32
    blk[_PAD:_PAD + n] = arr[a:b]
    off = a - _PAD
    _blank_strings(blk, quotes[np.searchsorted(quotes, a):np.searchsorted(quotes, b)] - off)
    u = blk | 32  # '[' -> '{', ']' -> '}'
    brk = (u == _OPEN_O) | (u == _CLOSE_O)
    cm, co, sp = blk == 44, blk == 58, blk == 32
    sep = cm | co
    if not np.array_equal(sp[_PAD:_PAD + n], sep[_PAD - 1:_PAD + n - 1]):  # one space after each , and :
        return None
    tok = ~(brk | sep | sp | (blk == 34))
    edge = np.flatnonzero(tok[1:] != tok[:-1]) + 1  # token starts and ends, alternating (the pads are spaces)
    s, e = edge[0::2], edge[1::2]
    parsed = _short_numbers(blk, s, e)
    if parsed is None:
        return None
    val, dot, p1, rest = parsed
    after = blk[e]
    if np.any((p1 != 32) & (p1 != _OPEN_L)) or np.any((after != 44) & (after != _CLOSE_L)):
        return None  # a token after ': ', ', ' or '[', before ',' or ']'
    colon = np.flatnonzero(co)
    at = np.searchsorted(s, colon + 2).clip(0, max(s.size - 1, 0))
    tube = at[s[at] == colon + 2] if s.size else s  # '"label": 0', '"score": 0.5' (the rest: box rows)
    first, last = np.flatnonzero(p1 == _OPEN_L), np.flatnonzero(after == _CLOSE_L)
    if first.size != last.size or np.any(last - first != 4) or 5 * first.size + tube.size != s.size:
        return None  # rows of exactly five tokens, '[a, b, c, d, e]' (', ' between them: p1 and after)
    br = np.flatnonzero(brk)
    kind = blk[br]
    row = ((kind == _OPEN_L) & tok[br + 1]) | ((kind == _CLOSE_L) & tok[br - 1])
    if np.count_nonzero(tok[br + 1] | tok[br - 1]) != np.count_nonzero(row):
        return None  # '{' or '}' next to a token
    keep = ~row  # the rows' brackets are checked through their tokens: the nesting is checked on the others
    in_tubes = np.searchsorted(tube, rest)  # a long token's place among the tube tokens or the row values
    is_tube = in_tubes < tube.size
    is_tube[is_tube] = tube[in_tubes[is_tube]] == rest[is_tube]
    return (br[keep] + off, kind[keep], s[first] - 1 + off, e[last] + off, s[tube] + off, e[tube] + off, val[tube],
            dot[tube], s[rest] + off, e[rest] + off, np.where(is_tube, in_tubes, -1 - (rest - in_tubes)),
            np.delete(val, tube), int(np.count_nonzero(cm)), colon.size)


def parse_tubes_json(data: bytes | mmap.mmap) -> ParsedTubes | None:
    """The tubes of a JSON document (its bytes or a memory map) in the layout above, or None (then use
    ``json.loads``)."""
    lo, hi = 0, len(data)
    while lo < hi and data[lo] in _WS:
        lo += 1
    while hi > lo and data[hi - 1] in _WS:
        hi -= 1
    if data.find(b"\\") >= 0 or hi - lo < 2 or data[lo] != _OPEN_O or data[hi - 1] != _CLOSE_O:
        return None  # escapes, or not an object
    arr = np.frombuffer(data, np.uint8)[lo:hi]
    pool = ThreadPoolExecutor(THREADS) if THREADS > 1 and arr.size > _THREADED_BYTES else None
    mapper = pool.map if pool else map
    try:
        quotes, opens = _find_quotes(arr, mapper)
        if quotes.size % 2:
            return None
        bounds = _cuts(data, lo, hi, quotes)
        values = np.empty(5 * opens)  # >= the row values: rows (5 each) start with '['
        parts, used, tubes_seen, longs = [], 0, 0, []
        for part in mapper(lambda i: _scan(arr, bounds[i], bounds[i + 1], quotes), range(len(bounds) - 1)):
            if part is None:
                return None
            vals, part = part[-3], part[:-3] + part[-2:]  # the block's values go straight to their place
            values[used:used + vals.size] = vals
            place = part[10]
            longs.append((part[8], part[9], np.where(place >= 0, place + tubes_seen, place - used)))
            parts.append(part[:8] + part[11:])
            used += vals.size
            tubes_seen += part[6].size
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    keys = ("brackets", "kinds", "rows", "row_ends", "tpos", "tend", "tval", "tdot")
    t = {k: np.concatenate([p[j] for p in parts]) for j, k in enumerate(keys)}
    t["quotes"], t["commas"], t["colons"], t["values"] = quotes, sum(p[-2] for p in parts), sum(
        p[-1] for p in parts), values[:used]
    if not _place_long_numbers(arr, longs, t):
        return None
    return _structure(arr, t)


def _place_long_numbers(arr: np.ndarray, longs: list, t: dict) -> bool:
    """Decode the tokens every block left (one :func:`_long_numbers` call: its fixed cost once per document)
    into their tube token (place >= 0) or row value (-1 - place); False if one is not a JSON number."""
    s, e, place = (np.concatenate([lg[j] for lg in longs]) for j in range(3))
    if s.size == 0:
        return True
    got = _long_numbers(arr, s, e)
    if got is None:
        return False
    tube = place >= 0
    t["tval"][place[tube]], t["tdot"][place[tube]] = got[0][tube], got[1][tube]
    t["values"][-1 - place[~tube]] = got[0][~tube]
    return True


def _structure(arr: np.ndarray, t: dict) -> ParsedTubes | None:
    """Check the nesting of the non-row brackets, then that every byte between the document's parts is where
    the layout puts it (so nothing else is in the file); assemble the tubes."""
    br, kinds, q = t["brackets"], t["kinds"], t["quotes"]
    if br.size == 0 or kinds[0] != _OPEN_O or br[0] != 0:
        return None
    opens = (kinds == _OPEN_L) | (kinds == _OPEN_O)
    depth = np.cumsum(np.where(opens, 1, -1))
    level = np.where(opens, depth, depth + 1)  # an open and its close share a level
    if depth.min() < 0 or depth[-1] != 0 or np.count_nonzero(depth == 0) != 1 or level.max() > 4:
        return None
    by_level = np.argsort(level, kind="stable")  # well nested: each level alternates open, matching close
    k, lv = kinds[by_level], level[by_level]
    if not (np.all(opens[by_level][0::2]) and np.array_equal(k[1::2], k[0::2] + 2)):
        return None
    if any(np.any(k[0::2][lv[0::2] == d + 1] != _LEVELS[d]) for d in range(4)):
        return None
    pos = {d: (br[opens & (level == d)], br[~opens & (level == d)]) for d in (2, 3, 4)}
    (lists, lists_end), (tubes, tubes_end), (boxes, boxes_end) = (pos[d] for d in (2, 3, 4))
    nt = tubes.size
    if boxes.size != nt or np.any(np.searchsorted(tubes, boxes) - 1 != np.arange(nt)):
        return None  # one boxes list per tube
    qo, qc = q[0::2], q[1::2]
    kidx = np.searchsorted(qo, tubes)  # a tube's first three strings are its keys
    if nt and kidx[-1] + 2 >= qo.size:
        return None
    for j, name in enumerate((b"label", b"score", b"boxes")):
        sel = kidx + j
        if np.any(qc[sel] - qo[sel] != 6) or np.any(arr[(qo[sel] + 1)[:, None] + np.arange(5)].view("S5").ravel()
                                                    != name):
            return None
    names_mask = np.ones(qo.size, bool)
    names_mask[np.concatenate([kidx, kidx + 1, kidx + 2])] = False
    names_at = np.flatnonzero(names_mask)
    if names_at.size != lists.size:
        return None
    rows, row_ends = t["rows"], t["row_ends"]
    rows_per_tube = np.searchsorted(rows, boxes_end) - np.searchsorted(rows, boxes)
    tubes_per_video = np.searchsorted(tubes, lists_end) - np.searchsorted(tubes, lists)
    if rows.size != row_ends.size or rows_per_tube.sum() != rows.size or tubes_per_video.sum() != nt:
        return None  # a row outside a boxes list, a tube outside a video's list
    if not (_videos_in_place(arr, qo[names_at], qc[names_at], lists, lists_end, tubes, tubes_end, tubes_per_video)
            and _tubes_in_place(arr, t, qo, qc, kidx, tubes, tubes_end, boxes, boxes_end, rows_per_tube)):
        return None
    return _assemble(arr, t, qo[names_at], qc[names_at], tubes_per_video, rows_per_tube)


def _next_is(arr: np.ndarray, at: np.ndarray, char: bytes, then: np.ndarray, gap: int) -> bool:
    """``arr[at] == char`` and ``then == at + gap`` everywhere (e.g. ', ' then the next part)."""
    return bool(np.all(arr[at] == char[0]) and np.array_equal(then, at + gap))


def _videos_in_place(arr, name_open, name_close, lists, lists_end, tubes, tubes_end, tubes_per_video) -> bool:
    """``{"name": [tube, tube], "name": []}``: each byte between a name, its list and its tubes as json.dumps
    writes it."""
    nv = lists.size
    if nv == 0:
        return arr.size == 2
    if name_open[0] != 1 or lists_end[-1] != arr.size - 2:
        return False
    if not (_next_is(arr, name_close + 1, b":", lists, 2) and _next_is(arr, lists_end[:-1] + 1, b",",
                                                                       name_open[1:], 2)):
        return False
    full = tubes_per_video > 0
    first = np.cumsum(tubes_per_video) - tubes_per_video
    last_end = tubes_end[(first + tubes_per_video - 1)[full]]
    if not (np.array_equal(tubes[first[full]], lists[full] + 1) and np.array_equal(lists_end[full], last_end + 1)
            and np.array_equal(lists_end[~full], lists[~full] + 1)):
        return False
    inner = np.ones(tubes.size, bool)
    inner[(first + tubes_per_video - 1)[full]] = False  # tubes followed by another tube of the same video
    return _next_is(arr, tubes_end[inner] + 1, b",", tubes[np.flatnonzero(inner) + 1], 2)


def _tubes_in_place(arr, t, qo, qc, kidx, tubes, tubes_end, boxes, boxes_end, rows_per_tube) -> bool:
    """``{"label": 0, "score": 0.5, "boxes": [row, row]}`` and rows ``[a, b, c, d, e]`` separated by ', '."""
    tpos, tend, rows, row_ends = t["tpos"], t["tend"], t["rows"], t["row_ends"]
    if tpos.size != 2 * tubes.size:
        return False
    lab, sco = tpos[0::2], tpos[1::2]
    checks = (np.array_equal(qo[kidx], tubes + 1), _next_is(arr, qc[kidx] + 1, b":", lab, 2),
              _next_is(arr, tend[0::2], b",", qo[kidx + 1], 2), _next_is(arr, qc[kidx + 1] + 1, b":", sco, 2),
              _next_is(arr, tend[1::2], b",", qo[kidx + 2], 2), _next_is(arr, qc[kidx + 2] + 1, b":", boxes, 2),
              np.array_equal(tubes_end, boxes_end + 1))
    if not all(checks) or np.any(rows_per_tube == 0):
        return False
    first = np.cumsum(rows_per_tube) - rows_per_tube
    last = first + rows_per_tube - 1
    if not (np.array_equal(rows[first], boxes + 1) and np.array_equal(row_ends[last] + 1, boxes_end)):
        return False
    gap, after = rows[1:] - row_ends[:-1], arr[row_ends + 1]
    gap[last[:-1]], after[last] = 3, 44  # (a tube's last row is followed by its boxes' ']', checked above)
    return bool(np.all(gap == 3) and np.all(after == 44))  # ', ' between the rows of a tube


def _assemble(arr, t, name_open, name_close, tubes_per_video, rows_per_tube) -> ParsedTubes | None:
    nt, nr = tubes_per_video.sum(), rows_per_tube.sum()
    if np.any(t["tdot"][0::2]):
        return None  # a label must be an integer
    vals = t["values"]
    if vals.size != 5 * nr or t["colons"] != name_open.size + 3 * nt:
        return None
    commas = max(name_open.size - 1, 0) + int(np.sum(np.maximum(tubes_per_video - 1, 0)))  # between videos, tubes
    commas += 2 * nt + int(np.sum(rows_per_tube - 1)) + 4 * nr  # between a tube's members, its rows, row values
    if t["commas"] != commas:
        return None
    try:
        names = [arr[a + 1:b].tobytes().decode("utf-8") for a, b in zip(name_open, name_close, strict=True)]
    except UnicodeDecodeError:
        return None
    if len(set(names)) != len(names) or any(min(nm, default=" ") < " " for nm in names):
        return None  # a repeated key (json.loads keeps the last one), or a control character (it refuses)
    tval = t["tval"]
    return ParsedTubes(names, np.repeat(np.arange(names.__len__()), tubes_per_video), tval[0::2].astype(np.int64),
                       tval[1::2], rows_per_tube, vals.reshape(-1, 5))
