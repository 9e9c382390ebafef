"""Reports as Markdown and as one self-contained HTML file (images embedded as base64).

A report is a list of :class:`Section` s; each holds paragraphs, one optional :class:`Table` and
images. Every number shown in a table cell can carry the slash-separated key of the JSON result it came from
(``data-key`` in the HTML), so a test can check that what a reader sees equals the results file.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

from acrn.cli.common import atomic_write_text


@dataclass
class Cell:
    """One table cell: the text shown and, for numbers, the JSON key it was read from."""

    text: str
    key: str | None = None


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Cell]]
    caption: str = ""


@dataclass
class Image:
    """A PNG file on disk, shown with a caption."""

    path: Path
    caption: str = ""


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    table: Table | None = None
    images: list[Image] = field(default_factory=list)


def percent(value: float | None) -> str:
    """AP in [0, 1] shown as a percentage with one decimal, as in the paper's tables."""
    return "–" if value is None else f"{100.0 * value:.1f}"


def mean_std(values: list[float]) -> str:
    """``mean ± std`` of APs in percent (population std over seeds); one value is shown alone (a std of
    one seed would read as a measured zero spread)."""
    if not values:
        return "–"
    m = sum(values) / len(values)
    if len(values) == 1:
        return f"{100 * m:.1f}"
    s = (sum((v - m) ** 2 for v in values) / len(values)) ** 0.5
    return f"{100 * m:.1f} ± {100 * s:.1f}"


def _md_table(t: Table) -> list[str]:
    lines = ["| " + " | ".join(t.headers) + " |", "|" + "---|" * len(t.headers)]
    lines += ["| " + " | ".join(c.text for c in row) + " |" for row in t.rows]
    if t.caption:
        lines += ["", f"*{t.caption}*"]
    return lines


def render_markdown(title: str, sections: list[Section], image_dir: str = "images") -> str:
    """Markdown text; images are referenced as ``image_dir/<file name>``."""
    out = [f"# {title}", ""]
    for s in sections:
        out += [f"## {s.title}", ""]
        for p in s.paragraphs:
            out += [p, ""]
        if s.table is not None:
            out += _md_table(s.table) + [""]
        for im in s.images:
            out += [f"![{im.caption}]({image_dir}/{im.path.name})", ""]
            if im.caption:
                out += [f"*{im.caption}*", ""]
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #bbb;padding:.3em .8em;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f0f0f0}
figure{display:inline-block;margin:.5em;vertical-align:top;max-width:100%}
img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.85em;color:#555;max-width:520px}
code{background:#f4f4f4;padding:0 .2em}
"""

# Counts images that decoded, so a headless browser can report it in the DOM (see tests).
_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images-total', imgs.length);
  document.body.setAttribute('data-images-ok', ok);
});
"""


def _html_cell(c: Cell, tag: str = "td") -> str:
    key = f' data-key="{html.escape(c.key)}"' if c.key else ""
    return f"<{tag}{key}>{html.escape(c.text)}</{tag}>"


def _inline(text: str) -> str:
    """Escape text and turn `code` spans into <code> elements."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def render_html(title: str, sections: list[Section]) -> str:
    """One self-contained HTML page: PNGs embedded as data URIs, no external resources."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title><style>{_CSS}</style>",
           f"<script>{_SCRIPT}</script></head><body>", f"<h1>{html.escape(title)}</h1>"]
    for s in sections:
        out.append(f"<h2>{html.escape(s.title)}</h2>")
        out += [f"<p>{_inline(p)}</p>" for p in s.paragraphs]
        if s.table is not None:
            t = s.table
            out.append("<table>")
            if t.caption:
                out.append(f"<caption>{html.escape(t.caption)}</caption>")
            out.append("<tr>" + "".join(_html_cell(Cell(h), "th") for h in t.headers) + "</tr>")
            out += ["<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in t.rows]
            out.append("</table>")
        for im in s.images:
            data = base64.b64encode(Path(im.path).read_bytes()).decode()
            out.append(f'<figure><img alt="{html.escape(im.caption)}" src="data:image/png;base64,{data}">'
                       f"<figcaption>{html.escape(im.caption)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(out_dir: str | Path, title: str, sections: list[Section], results: dict) -> dict[str, Path]:
    """Write ``report.md`` (+ ``images/``), ``report.html`` (self-contained) and ``results.json``.

    Every file is written atomically. Returns the paths by kind.
    """
    out = Path(out_dir)
    img_dir = out / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    for s in sections:
        for im in s.images:
            target = img_dir / im.path.name
            if Path(im.path).resolve() != target.resolve():
                target.write_bytes(Path(im.path).read_bytes())
    paths = {"markdown": out / "report.md", "html": out / "report.html", "json": out / "results.json"}
    atomic_write_text(paths["json"], json.dumps(results, indent=2, sort_keys=True) + "\n")
    atomic_write_text(paths["markdown"], render_markdown(title, sections))
    atomic_write_text(paths["html"], render_html(title, sections))
    return paths


def lookup(results: dict, key: str) -> object:
    """The value at a slash-separated ``key`` (``models/ACRN/video_mAP/0.5``) in nested dicts."""
    node: object = results
    for part in key.split("/"):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"results have no key {key!r} (missing {part!r})")
        node = node[part]
    return node
