"""Reading big CSV files in newline-aligned blocks, parsed ahead in threads, in file order."""

from __future__ import annotations

import ctypes
import platform
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from acrn.errors import InputError

CHUNK_BYTES = 1 << 20
PARSE_THREADS = 2  # chunks parsed ahead in threads (one process; numpy loops release the GIL)


@contextmanager
def small_pages():
    """Large numpy arrays without ``madvise(MADV_HUGEPAGE)`` while parsing/evaluating 1 GB of rows.

    numpy asks for transparent huge pages on big allocations; where the kernel then compacts memory
    synchronously on first touch (THP defrag "madvise", as on our CI machine) that costs ~2 s of system
    time per GB, against ~0.4 s with ordinary pages. numpy's documented switch for this is the
    NUMPY_MADVISE_HUGEPAGE variable; this sets the same flag for the duration and restores it.
    Also settles glibc's malloc thresholds (:func:`_settle_malloc`).
    """
    _settle_malloc()
    try:
        from numpy._core import multiarray
        previous = multiarray._set_madvise_hugepage(False)
    except (ImportError, AttributeError):  # other numpy versions: leave it alone
        yield
        return
    try:
        yield
    finally:
        multiarray._set_madvise_hugepage(previous)


_MALLOC_SETTLED = False
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)


def _settle_malloc() -> None:
    """Fix glibc malloc's mmap/trim thresholds at 32 MB / 64 MB, the highest values its own dynamic
    adjustment reaches (after a 32 MB block is freed), once per process.

    Parsing allocates a few MB of temporaries per block, of sizes that vary with the rows' lengths. With
    the start-up thresholds (128 kB) glibc maps and unmaps most of them, or trims them off the thread
    arenas, and every reuse faults its pages in again: at AVA scale 1.7 GB of page faults, ~1 s of system
    time. Blocks of 32 MB and more (the 18M-row arrays) are still mapped and returned to the system.
    glibc has no getter for these parameters, so they are left at these values. Other C libraries: no-op.
    """
    global _MALLOC_SETTLED
    if _MALLOC_SETTLED:
        return
    _MALLOC_SETTLED = True
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    mallopt(_M_TRIM_THRESHOLD, 64 << 20)


def _row_bound(path: Path) -> int:
    """Rows to preallocate: exact for small files; for big ones file size / shortest line of the first MB,
    plus 25% (pages never written cost no memory; a file with shorter lines later still reads correctly)."""
    try:
        size = path.stat().st_size
        if size <= 64 * CHUNK_BYTES:
            return _count_lines(path)
        with open(path, "rb") as f:
            head = f.read(CHUNK_BYTES)
    except OSError:
        return 0
    shortest = min((len(x) + 1 for x in head.split(b"\n")[:-1] if x), default=1)
    return int(size / shortest * 1.25) + 16


def _count_lines(path: Path) -> int:
    """Upper bound of the data rows (newlines + 1), read in blocks; 0 if unreadable (errors come later)."""
    try:
        with open(path, "rb") as f:
            return sum(_newlines(block) for block in iter(lambda: f.read(CHUNK_BYTES << 4), b"")) + 1
    except OSError:
        return 0


def _newlines(data: bytes) -> int:
    return int(np.count_nonzero(np.frombuffer(data, np.uint8) == 10))  # a few times faster than bytes.count


def run_reader(reader, path: Path, skip_header: bytes | None = None, threads: int | None = None) -> int:
    """Feed the file to ``reader`` (an :class:`acrn.eval.ava_csv._Reader`) in newline-aligned chunks: its
    ``prepare`` runs in ``threads`` worker threads (default ``PARSE_THREADS``), then ``fast_chunk`` (else
    ``slow_chunk``) in file order.

    Returns the bytes of data rows read: 0 for an empty file (or, with ``skip_header``, an empty file or a
    header alone). The caller decides whether that is an error: the official tools score empty files."""
    try:
        f = open(path, "rb")
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    line0, total = 1, 0
    threads = PARSE_THREADS if threads is None else threads
    with f, ThreadPoolExecutor(threads) as pool:
        if skip_header is not None:
            first = f.readline()
            if not first:
                return 0
            if not first.startswith(skip_header):
                raise InputError(f"{path}:1: expected the header {skip_header.decode()}..., got "
                                 f"{first[:60].decode('utf-8', 'replace').strip()!r}")
            line0 = 2
        # numpy releases the GIL in its loops: chunks are parsed ahead in threads, consumed in file order
        pending: deque = deque()
        for data in _blocks(f):
            if data is not None:
                pending.append((data, pool.submit(reader.prepare, data)))
            while pending and (len(pending) > 2 * threads or data is None):  # None: end of file
                chunk, fut = pending.popleft()
                total += len(chunk)
                fixed = fut.result()
                if not reader.fast_chunk(chunk, line0, fixed):
                    try:
                        reader.slow_chunk(chunk.decode("utf-8"), line0)
                    except UnicodeDecodeError:
                        raise InputError(f"{path}: not UTF-8 text") from None
                line0 += fixed[1].shape[0] if fixed is not None else _newlines(chunk)  # fixed: one row per line
    return total


def _blocks(f):
    """Newline-terminated blocks of about CHUNK_BYTES (a final newline added if missing), then None.

    Each block is read into its own bytearray after the previous block's partial last line, and cut
    in place: the block's bytes are not copied again."""
    rest = b""
    while True:
        buf = bytearray(len(rest) + CHUNK_BYTES)
        buf[:len(rest)] = rest
        got = f.readinto(memoryview(buf)[len(rest):])
        if not got:
            if rest:
                yield rest if rest.endswith(b"\n") else rest + b"\n"
            yield None
            return
        del buf[len(rest) + got:]  # a short read at the end of the file
        cut = buf.rfind(b"\n") + 1
        if cut == 0:  # no line end yet
            rest = bytes(buf)
            continue
        rest = bytes(buf[cut:])
        del buf[cut:]
        yield buf
