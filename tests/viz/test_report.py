"""The Markdown/HTML report: self-contained, every image loads, shown numbers equal the JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from acrn.viz import plots
from acrn.viz.draw import contact_sheet, heatmap_peak, overlay_heatmap
from acrn.viz.report import Cell, Image, Section, Table, lookup, mean_std, percent, write_report

from .chromium import dump_dom


def _report(tmp_path: Path) -> tuple[dict, dict]:
    results = {"models": {"Base-Model": {"frame_mAP": 0.4321, "video_mAP": {"0.5": 0.5}},
                          "ACRN": {"frame_mAP": 0.6789, "video_mAP": {"0.5": 0.7123}}}}
    bars = plots.per_class_bars(["catch", "throw", "walk"], [0.2, 0.3, 0.9], [0.8, 0.7, 0.95], "Base-Model",
                                "ACRN", tmp_path / "fig" / "bars.png")
    curves = plots.training_curves({"Base-Model": [(0, 2.0), (10, 1.0)], "ACRN": [(0, 2.1), (10, 0.5)]},
                                   tmp_path / "fig" / "curves.png")
    rows = []
    for name in ("Base-Model", "ACRN"):
        rows.append([Cell(name), Cell(percent(results["models"][name]["frame_mAP"]), f"models/{name}/frame_mAP"),
                     Cell(percent(results["models"][name]["video_mAP"]["0.5"]), f"models/{name}/video_mAP/0.5")])
    sections = [Section("Results", ["Frame-AP at IoU 0.5, `AVA` protocol."],
                        Table(["Model", "frame-AP", "video-AP"], rows), [Image(bars, "per-class AP")]),
                Section("Training", images=[Image(curves, "loss")])]
    return results, write_report(tmp_path / "report", "Demo <report>", sections, results)


def test_markdown_and_json(tmp_path: Path) -> None:
    results, paths = _report(tmp_path)
    md = paths["markdown"].read_text()
    assert "| ACRN | 67.9 | 71.2 |" in md
    assert "![per-class AP](images/bars.png)" in md
    assert (tmp_path / "report" / "images" / "bars.png").is_file()
    assert json.loads(paths["json"].read_text()) == results


def test_html_is_self_contained_and_escaped(tmp_path: Path) -> None:
    _, paths = _report(tmp_path)
    text = paths["html"].read_text()
    assert "Demo &lt;report&gt;" in text and "<code>AVA</code>" in text
    assert "src=\"images/" not in text and text.count("data:image/png;base64,") == 2


def test_html_renders_in_chromium_and_numbers_match(tmp_path: Path) -> None:
    results, paths = _report(tmp_path)
    dom = dump_dom(paths["html"])
    total = re.search(r'data-images-total="(\d+)"', dom)
    ok = re.search(r'data-images-ok="(\d+)"', dom)
    assert total and ok, "the load script did not run"
    assert int(total.group(1)) == 2 and int(ok.group(1)) == 2
    cells = re.findall(r'<td data-key="([^"]+)">([^<]*)</td>', dom)
    assert len(cells) == 4
    for key, shown in cells:
        assert shown == percent(lookup(results, key))


def test_helpers() -> None:
    assert percent(0.77777) == "77.8" and percent(None) == "–"
    assert mean_std([0.5, 0.7]) == "60.0 ± 10.0"
    assert mean_std([0.5]) == "50.0"
    hm = np.zeros((4, 8), np.float32)
    hm[1, 6] = 1.0
    assert heatmap_peak(hm, (40, 80)) == (65.0, 15.0)
    frame = np.zeros((40, 80, 3), np.uint8)
    out = overlay_heatmap(frame, hm)
    assert out.shape == frame.shape and out[15, 65].sum() > out[35, 5].sum()
    sheet = contact_sheet([frame, frame, frame], columns=2, pad=2)
    assert sheet.shape == (2 * 42 + 2, 2 * 82 + 2, 3)
