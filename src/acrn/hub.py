"""Registered weight files: downloaded on first use into a cache folder, checked by SHA-256.

Like torchvision's model zoo: each weight file acrn can use is registered here with its upstream URL,
SHA-256 and licence. :func:`weight_path` returns the cached file, downloading it on first use to a
temporary name in the cache folder and renaming it into place only after its SHA-256 matched, so the
cache never holds a partial or a wrong file. A cached file whose SHA-256 differs (a different
version, bit rot, a file put there by hand) is refused with the expected and the found digest.

The cache folder is ``$ACRN_HOME/weights`` (``ACRN_HOME`` defaults to ``$XDG_CACHE_HOME/acrn``, i.e.
``~/.cache/acrn``). Offline machines seed it by copying the files there (``acrn weights seed DIR``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from acrn.errors import InputError

_FASTESTDET = "https://github.com/dog-qiuqiu/FastestDet/raw/50473cd155cb088aa4a99e64ff6a4b3c24fa07e1"


@dataclass(frozen=True)
class WeightFile:
    """One registered weight file."""

    name: str  # the name acrn uses (``acrn weights list``, ``--persons fastestdet``)
    filename: str  # file name inside the cache folder
    url: str  # upstream download URL (pinned to a commit)
    sha256: str  # hex digest the file must have
    licence: str
    description: str


REGISTRY: dict[str, WeightFile] = {w.name: w for w in (
    WeightFile("fastestdet", "FastestDet-AP05-0.2532.pth",
               f"{_FASTESTDET}/weights/weight_AP05%3A0.253207_280-epoch.pth",
               "7f688d478ee474c82dbdb9c10e0ede2f8f3cf5d603f0825d2efd925eb561d05e", "BSD-3-Clause",
               "FastestDet COCO detector (person = class 0), PyTorch state dict; acrn's person detector"),
    WeightFile("fastestdet-onnx", "FastestDet.onnx", f"{_FASTESTDET}/example/onnx-runtime/FastestDet.onnx",
               "31cb14c017fce347cb4c846ec62fdf00d76bb3beecdf4be21e7116ac67feb880", "BSD-3-Clause",
               "the same network exported to ONNX (reference for tests and benchmarks)"),
)}


def acrn_home() -> Path:
    """``$ACRN_HOME``, else ``$XDG_CACHE_HOME/acrn``, else ``~/.cache/acrn``."""
    if os.environ.get("ACRN_HOME"):
        return Path(os.environ["ACRN_HOME"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "acrn"


def cache_dir() -> Path:
    """The folder that holds downloaded weight files."""
    return acrn_home() / "weights"


def registered(name: str) -> WeightFile:
    """The registry entry ``name``; :class:`InputError` listing the valid names otherwise."""
    if name not in REGISTRY:
        raise InputError(f"unknown weights {name!r}; registered: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_verified: dict[Path, tuple[int, float]] = {}  # path -> (size, mtime) already checked in this process


def _check(w: WeightFile, path: Path, what: str) -> None:
    stat = path.stat()
    if _verified.get(path) == (stat.st_size, stat.st_mtime):
        return
    got = sha256_of(path)
    if got != w.sha256:
        raise InputError(f"{path}: {what} has SHA-256 {got}, expected {w.sha256} for weights {w.name!r} "
                         f"({w.url}); delete it and let acrn download it again")
    _verified[path] = (stat.st_size, stat.st_mtime)


def cached_path(name: str) -> Path:
    """Where ``name`` is (or would be) cached."""
    return cache_dir() / registered(name).filename


def weight_path(name: str, download: bool = True) -> Path:
    """The verified local file of registered weights ``name``, downloaded on first use."""
    w = registered(name)
    path = cache_dir() / w.filename
    if path.is_file():
        _check(w, path, "the cached file")
        return path
    if not download:
        raise InputError(f"{path}: weights {name!r} are not downloaded (run `acrn weights download {name}`)")
    _download(w, path)
    return path


def _download(w: WeightFile, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{w.filename}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(w.url, timeout=60) as resp:
                    shutil.copyfileobj(resp, out)
            except (urllib.error.URLError, OSError, ValueError) as e:
                reason = getattr(e, "reason", None) or e
                raise InputError(f"{w.url}: download of weights {w.name!r} failed ({reason}); on a machine "
                                 f"without network, copy {w.filename} (SHA-256 {w.sha256}) to {path}") from None
        _check(w, Path(tmp), "the downloaded file")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def seed(folder: str | Path) -> list[Path]:
    """Copy every registered file found in ``folder`` (by file name) into the cache, verifying each.

    A file with the wrong SHA-256 is refused before anything is written; files already cached are kept.
    Returns the cached paths that were copied or already present.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    done = []
    for w in REGISTRY.values():
        src = folder / w.filename
        if not src.is_file():
            continue
        _check(w, src, "the file to seed from")
        dst = cache_dir() / w.filename
        if not dst.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{w.filename}.", suffix=".part", dir=dst.parent)
            os.close(fd)
            try:
                shutil.copyfile(src, tmp)
                os.replace(tmp, dst)
            finally:
                Path(tmp).unlink(missing_ok=True)
        done.append(dst)
    return done


__all__ = ["REGISTRY", "WeightFile", "acrn_home", "cache_dir", "cached_path", "registered", "seed", "weight_path"]
