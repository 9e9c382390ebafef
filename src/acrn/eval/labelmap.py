"""AVA label maps: the official line-by-line pbtxt parser and the built-in 60-class v2.1 subset."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from acrn.errors import InputError

# The AVA v2.1 evaluation subset (ava_action_list_v2.1_for_activitynet_2018.pbtxt): the 80 actions minus
# 2,16,18,19,21,23,25,31,32,33,35,39,40,42,44,50,53,55,71,75.
AVA_V21_60_CLASS_IDS: tuple[int, ...] = (
    1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 20, 22, 24, 26, 27, 28, 29, 30, 34, 36, 37, 38, 41,
    43, 45, 46, 47, 48, 49, 51, 52, 54, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 72, 73,
    74, 76, 77, 78, 79, 80,
)


def parse_labelmap_lines(lines: Iterable[str], source: str = "<labelmap>") -> tuple[list[dict], set[int]]:
    """Parse pbtxt lines exactly as ActivityNet's ``read_labelmap``.

    A line starting with two spaces + ``name:`` sets the name (text between the first pair of double
    quotes); a line starting with ``  id:`` or ``  label_id:`` closes an entry with the last name seen.
    One-line ``item { name: "x" id: 1 }`` blocks are ignored, as officially.
    """
    labelmap: list[dict] = []
    ids: set[int] = set()
    name = ""
    for lineno, line in enumerate(lines, 1):
        if line.startswith("  name:"):
            parts = line.split('"')
            if len(parts) < 2:
                raise InputError(f"{source}:{lineno}: expected name: \"...\" with double quotes")
            name = parts[1]
        elif line.startswith("  id:") or line.startswith("  label_id:"):
            token = line.strip().split(" ")[-1]
            try:
                class_id = int(token)
            except ValueError:
                raise InputError(f"{source}:{lineno}: expected an integer id, got {token!r}") from None
            labelmap.append({"id": class_id, "name": name})
            ids.add(class_id)
    return labelmap, ids


def read_labelmap(path: str | Path) -> tuple[list[dict], set[int]]:
    """Read an AVA pbtxt label map (``item { name id }`` or ``label { name label_id }`` style).

    Returns ``(list of {"id": int, "name": str}, set of ids)``; raises InputError if it holds no entry.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"{path}: cannot read label map ({e.strerror})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: label map is not UTF-8 text") from None
    labelmap, ids = parse_labelmap_lines(text.splitlines(keepends=True), str(path))
    if not labelmap:
        raise InputError(f"{path}: no label found (expected lines '  name: \"...\"' then '  id: N' "
                         "or '  label_id: N', each on its own line with two leading spaces)")
    return labelmap, ids
