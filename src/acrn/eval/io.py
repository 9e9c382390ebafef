"""Safe loading of ground-truth pickles (JHMDB/UCF101-24 style) and JSON equivalents.

Only containers, numbers, strings and numpy arrays are allowed; any other global (a class, a function)
is refused with an InputError, so a hostile pickle cannot run code.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np

from acrn.errors import InputError

# (module, name) pairs a numpy array or scalar pickle needs, across numpy 1.x/2.x module names.
_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
}
_BUILTINS = {("builtins", n) for n in ("set", "frozenset", "tuple", "list", "dict", "complex", "bytearray")}
_BUILTINS |= {("__builtin__", n) for n in ("set", "frozenset", "tuple", "list", "dict", "complex", "bytearray")}
_BUILTINS |= {("collections", "OrderedDict"), ("_codecs", "encode")}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _NUMPY_GLOBALS or (module, name) in _BUILTINS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing global {module}.{name} (only containers, numbers, strings "
                                     "and numpy arrays are allowed)")


def safe_load_pickle(path: str | Path):
    """Load a pickle holding only containers, numbers, strings and numpy arrays (Python 2 pickles too).

    Raises InputError (one line, naming the file) for a missing file, a refused global or a corrupt file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    if not data:
        raise InputError(f"{path}: file is empty")
    try:
        return _SafeUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as e:
        raise InputError(f"{path}: unsafe or invalid pickle: {e}") from None
    except (EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError, KeyError) as e:
        raise InputError(f"{path}: not a valid pickle ({type(e).__name__}: {e})") from None


def load_gt_file(path: str | Path) -> dict:
    """A JHMDB/UCF-style ground truth from ``.pkl`` (safe unpickler) or ``.json`` (same structure).

    JSON keys that are label indices may be strings; tubes are lists of [frame, x1, y1, x2, y2] rows.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        try:
            gt = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise InputError(f"{path}: cannot read ({e.strerror})") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(f"{path}: invalid JSON ({e})") from None
    else:
        gt = safe_load_pickle(path)
    return normalize_gt(gt, str(path))


def normalize_gt(gt, source: str = "<gt>") -> dict:
    """Check the ACT ground-truth structure and convert tubes to float64[n, 5] arrays sorted by frame."""
    if not isinstance(gt, dict):
        raise InputError(f"{source}: expected a dict with labels, test_videos, nframes, gttubes")
    for key in ("labels", "gttubes", "nframes"):
        if key not in gt:
            raise InputError(f"{source}: missing key {key!r}")
    labels = [str(x) for x in gt["labels"]]
    tubes: dict[str, dict[int, list[np.ndarray]]] = {}
    for video, per_label in dict(gt["gttubes"]).items():
        out: dict[int, list[np.ndarray]] = {}
        for lab, tlist in dict(per_label).items():
            try:
                li = int(lab)
            except (TypeError, ValueError):
                raise InputError(f"{source}: gttubes[{video!r}] has non-integer label {lab!r}") from None
            if not 0 <= li < len(labels):
                raise InputError(f"{source}: gttubes[{video!r}] label {li} outside 0..{len(labels) - 1}")
            arrs = []
            for k, t in enumerate(tlist):
                a = np.asarray(t, dtype=np.float64)
                if a.ndim != 2 or a.shape[1] < 5 or a.shape[0] == 0:
                    raise InputError(f"{source}: gttubes[{video!r}][{li}][{k}] must be an [n, 5] array "
                                     f"(frame, x1, y1, x2, y2), got shape {a.shape}")
                arrs.append(a[np.argsort(a[:, 0], kind="stable"), :5])
            out[li] = arrs
        tubes[str(video)] = out
    norm = dict(gt)
    norm["labels"] = labels
    norm["gttubes"] = tubes
    norm["nframes"] = {str(k): int(v) for k, v in dict(gt["nframes"]).items()}
    return norm
