"""Helpers shared by subcommands: config arguments and atomic file writes."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from acrn.config import Config, load_config


def add_config_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    """``CONFIG`` positional plus repeatable ``--set a.b=c``."""
    p.add_argument("config", nargs=None if required else "?", help="YAML config file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set model.head=acrn (repeatable)")


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(getattr(args, "config", None), args.overrides)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary file next to ``path`` and rename it into place."""
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
