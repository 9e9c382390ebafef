"""Decimal numbers of up to 8 bytes decoded eight bytes at a time (SWAR on uint64 words), exactly.

Shared by the CSV readers (:mod:`acrn.eval.ava_csv`) and the tubes JSON reader (:mod:`acrn.eval.tubes_json`).
The mantissa (at most 8 digits) is an exact integer and is divided by an exact power of ten: the correctly
rounded double, which is what Python's ``float`` returns for the same text.
"""

from __future__ import annotations

import numpy as np

_U = np.uint64
_ONES, _HIGH, _LOW7, _ZEROS = _U(0x0101010101010101), _U(0x8080808080808080), _U(0x7F7F7F7F7F7F7F7F), _U(
    0x3030303030303030)
_M8, _M16, _M32 = _U(0x00FF00FF00FF00FF), _U(0x0000FFFF0000FFFF), _U(0xFFFFFFFF)
_POW10 = 10 ** np.arange(9, dtype=np.int64)


def _bytes_equal(x: np.ndarray, c: int) -> np.ndarray:
    """0x80 in every byte of the uint64 words ``x`` that equals ``c``, 0 elsewhere (exact, no carries)."""
    v = x ^ (_ONES * _U(c))
    return ~(((v & _LOW7) + _LOW7) | v | _LOW7)


def parse_short(blk: np.ndarray, s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tokens ``blk[s:e]`` (``s >= 8``) -> (value float64, ok, has_dot); ok False: longer than 8 bytes or not a
    plain decimal (exponent, sign '+', spaces, several dots, a '-' inside), for the general parsers to decide.

    The 8 bytes ending with the token are one little-endian word: its first character lands in the lowest of
    its bytes, the bytes before it are set to '0' (leading zeros), a leading '-' becomes '0' and the dot is
    squeezed out (the bytes below it move up one), so the word holds 8 decimal digits for :func:`_swar8`."""
    words = np.ndarray((blk.size - 7,), "<u8", blk, 0, (1,))  # the 8 bytes from every offset (unaligned view)
    lead = _U(8) * (_U(8) - np.minimum(e - s, 8).astype(np.uint64))  # bits of the bytes before the token
    low = (_U(1) << lead) - _U(1)
    x = (words[e - 8] & ~low) | (_ZEROS & low)
    dot, minus = _bytes_equal(x, 46), _bytes_equal(x, 45)
    first = _U(0x80) << lead  # flag bit of the token's first byte
    ok = (np.bitwise_count(dot) <= 1) & ((minus == 0) | (minus == first))
    ok &= ((e - s) <= 8) & (e > s)
    ok &= np.bitwise_count(dot) + np.bitwise_count(minus) < (e - s)  # at least one digit
    x = x + (minus >> _U(7)) * _U(3)  # '-' (0x2D) -> '0'
    has_dot = dot != 0
    j = ((np.frexp(dot.astype(np.float64))[1] - 8) // 8).clip(0, 7).astype(np.uint64)  # the dot's byte
    below = (_U(1) << (_U(8) * j)) - _U(1)
    above = ~(below | (_U(0xFF) << (_U(8) * j)))
    x = np.where(has_dot, ((x & below) << _U(8)) | (x & above) | _U(0x30), x)
    # every byte a digit: ASCII, then >= '0' and <= '9' by adding per byte (no carries between bytes below 0x80)
    ok &= ((x & _HIGH) == 0) & (((x + _U(0x5050505050505050)) & _HIGH) == _HIGH)
    ok &= ((x + _U(0x4646464646464646)) & _HIGH) == 0
    d = x - _ZEROS
    a = (d * _U(10) + (d >> _U(8))) & _M8
    a = (a * _U(100) + (a >> _U(16))) & _M16
    a = (a * _U(10000) + (a >> _U(32))) & _M32
    frac = np.where(has_dot, 7 - j.astype(np.int64), 0)  # digits after the dot
    val = a.astype(np.float64) / _POW10[frac]
    return np.where(minus != 0, -val, val), ok, has_dot


_KEEP = np.array([0] + [(~0 << (8 * (8 - n))) & 0xFFFFFFFFFFFFFFFF for n in range(1, 9)] + [~0 & 0xFFFFFFFFFFFFFFFF],
                 np.uint64)  # the top n bytes
_BELOW = np.array([(1 << (8 * j)) - 1 for j in range(8)] + [0], np.uint64)  # bytes below the dot's byte j
_ABOVE = np.array([~((1 << (8 * (j + 1))) - 1) & 0xFFFFFFFFFFFFFFFF for j in range(8)] + [~0 & 0xFFFFFFFFFFFFFFFF],
                  np.uint64)
_DOT_AT = np.array([0x1E << (8 * j) for j in range(8)] + [0], np.uint64)  # '.' ^ '0' in byte j
_BYTE_J = np.array([0xFF << (8 * j) for j in range(8)] + [0], np.uint64)  # byte j (8: none)
_POW10_FRAC = 10.0 ** np.array([7 - j for j in range(8)] + [0])  # 10 ** digits after a dot in byte j (8: none)


def parse_plain(blk: np.ndarray, s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`parse_short` in fewer passes (~40% faster), for the many-fields-at-once readers: the same values
    and ``ok``, except that a '-' followed by 8 bytes is decoded too (still exact: 8 digits at most).

    The sign is read from the first byte and the rest (at most 8 bytes) decoded as one word XOR '0': digits
    become 0..9, the dot 0x1E and anything else a byte >= 10, flagged per byte (a carry leaves a byte >= 0x80,
itself flagged, and can only add flags). One flag at
    most, and it must be the dot; its byte index (from the popcount below the flag) picks the masks that
    squeeze it out and the power of ten from small tables. Needs ``e >= 8``."""
    neg = blk[s] == 45
    t, n, idx, ok = digits8(blk, s, e, neg)
    val, _ = value8(t, idx)
    val.view(np.uint64)[...] |= neg.view(np.uint8).astype(np.uint64) << _U(63)  # the sign bit: -0 stays -0.0
    return val, ok, idx < 8


def digits8(blk: np.ndarray, s: np.ndarray, e: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, ...]:
    """The core of :func:`parse_plain` for tokens ``blk[s:e]`` (``neg``: a leading '-', not decoded):
    (t uint64: the token's last 8 bytes XOR '0', the bytes before it set to digit 0; n: its length without
    the '-', capped at 9; idx intp: the byte of its dot, 8 if none; ok: at most 8 digits and one dot, at least
    one digit). ``t``'s first digit is byte ``8 - n`` (little-endian: the last byte of the token is byte 7)."""
    words = np.ndarray((blk.size - 7,), "<u8", blk, 0, (1,))  # (a gather from this unaligned view: ~6 ns)
    n = np.minimum(e - s - neg, 9)  # >= 0: an empty token's s is a separator, not '-'; 9: too long
    t = (words[e - 8] ^ _ZEROS) & _KEEP.take(n)  # bytes before the token: digit 0 (words.take copies the view)
    flag = ((t + _U(0x7676767676767676)) | t) & _HIGH  # byte >= 10 (or >= 0x80)
    idx = (np.bitwise_count(flag - _U(1)) >> np.uint8(3)).astype(np.intp)  # the flagged byte, 8 if none
    ok = ((flag & (flag - _U(1))) == 0) & ((t & _BYTE_J.take(idx)) == _DOT_AT.take(idx))
    ok &= (n <= 8) & (n > (idx < 8))  # at least one digit
    return t, n, idx, ok


def value8(t: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value float64 without sign, mantissa uint64) of :func:`digits8`'s words: the dot squeezed out, eight
    digits combined (SWAR), divided by the exact power of ten."""
    t = ((t & _BELOW.take(idx)) << _U(8)) | (t & _ABOVE.take(idx))
    t = (t * _U(10) + (t >> _U(8))) & _M8
    t = (t * _U(100) + (t >> _U(16))) & _M16
    t = (t * _U(10000) + (t >> _U(32))) & _M32
    return t.astype(np.float64) / _POW10_FRAC.take(idx), t
