"""Checkpoints: atomic save, integrity-checked safe load, RNG states as tensors.

A checkpoint is a ``torch.save`` of plain containers and tensors only, so it loads with
``torch.load(weights_only=True)`` (no arbitrary unpickling of a file someone sent you)::

    {"format": "acrn-checkpoint", "version": 1, "step": int, "model": state_dict,
     "optimizer": state_dict | None, "scheduler": {"step": int}, "rng": {...tensors...},
     "config": plain dict, "code_version": str, "extra": dict, "digest": str}

``digest`` is a SHA-256 over every tensor's bytes and every primitive in the payload; a file whose
digest does not match (bit rot, a partial copy) or that torch cannot read (truncated) is refused with
an :class:`~acrn.errors.InputError`. Saving writes a temporary file in the same folder, fsyncs it,
reads it back and verifies it, and only then renames it over the previous checkpoint, so a crash or
a full disk never replaces a good checkpoint with a bad one.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from acrn import __version__
from acrn.errors import InputError

FORMAT = "acrn-checkpoint"
VERSION = 1


def code_version() -> str:
    """``acrn <version>`` plus ``git describe`` of the source tree when it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=here,
                             capture_output=True, text=True, timeout=5)
        desc = out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        desc = ""
    return f"acrn {__version__}" + (f" ({desc})" if desc else "")


# ---------------------------------------------------------------------------------------------
# RNG states as tensors (weights_only-loadable)


def rng_state() -> dict[str, Any]:
    """torch CPU (+ CUDA), numpy and python ``random`` states, as tensors and ints."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": int(py_version), "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss": py_gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------------------------------------
# Integrity digest


def _feed(h: Any, obj: Any) -> None:
    """Hash ``obj`` (nested dicts/lists/tuples of tensors and primitives) in a canonical order."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        # reshape(-1): 0-dim tensors (e.g. AdamW step counters) cannot be viewed as bytes directly
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}".encode())
        for k, v in obj.items():
            h.update(repr(k).encode())
            _feed(h, v)
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{len(obj)}".encode())
        for v in obj:
            _feed(h, v)
    else:
        h.update(f"P{type(obj).__name__}:{obj!r}".encode())


def digest(payload: dict[str, Any]) -> str:
    """SHA-256 hex digest of a checkpoint payload without its ``digest`` key."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in payload.items() if k != "digest"})
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Save / load


def make_checkpoint(*, step: int, model_state: dict, optimizer_state: dict | None = None,
                    config: dict | None = None, rng: dict | None = None,
                    extra: dict | None = None) -> dict[str, Any]:
    """The checkpoint payload (plain containers and tensors only); ``digest`` filled in."""
    payload = {"format": FORMAT, "version": VERSION, "step": int(step), "model": model_state,
               "optimizer": optimizer_state, "scheduler": {"step": int(step)}, "rng": rng or {},
               "config": config or {}, "code_version": code_version(), "extra": extra or {}}
    payload["digest"] = digest(payload)
    return payload


def save_checkpoint(path: str | Path, payload: dict[str, Any], verify: bool = True) -> Path:
    """Write ``payload`` atomically: temporary file, fsync, verify, rename over ``path``.

    If anything fails (serialisation, disk full, verification) the temporary file is removed and the
    previous file at ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        if verify:
            load_checkpoint(tmp)
        os.replace(tmp, path)
        # Make the rename itself durable.
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and verify a checkpoint with ``weights_only=True``.

    Raises:
        InputError: the file is missing, unreadable or truncated, is not an acrn checkpoint, or its
            content does not match its digest.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found")
    try:
        with open(path, "rb") as f:
            data = f.read()
        payload = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises RuntimeError/UnpicklingError/EOFError/... on bad bytes
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{path}: not a readable checkpoint (truncated or corrupted?): {first[:200]}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"{path}: not an acrn checkpoint (expected format {FORMAT!r})")
    if payload.get("version") != VERSION:
        raise InputError(f"{path}: checkpoint version {payload.get('version')!r} is not supported "
                         f"(expected {VERSION})")
    if payload.get("digest") != digest(payload):
        raise InputError(f"{path}: checkpoint is corrupted (content does not match its SHA-256 digest)")
    return payload


def model_state_for_save(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict of ``model`` (unwrapping DDP / torch.compile wrappers), on CPU."""
    inner = getattr(model, "module", model)
    inner = getattr(inner, "_orig_mod", inner)
    return {k: v.detach().cpu().clone() for k, v in inner.state_dict().items()}


def load_model_weights(path: str | Path, model: torch.nn.Module, strict: bool = True) -> dict[str, Any]:
    """Load the ``model`` weights of an acrn checkpoint into ``model``; return the payload."""
    payload = load_checkpoint(path)
    try:
        model.load_state_dict(payload["model"], strict=strict)
    except RuntimeError as e:
        raise InputError(f"{path}: weights do not fit this model: {str(e).splitlines()[0][:300]}") from None
    return payload
