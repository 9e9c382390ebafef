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
