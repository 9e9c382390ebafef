"""Smoke tests of ``acrn demo`` and ``acrn ablate`` on the tiny synthetic preset (a few training steps).

They check the plumbing and the report, not the accuracy (the demo's numbers are measured by running it).
"""

from __future__ import annotations

import json
import re

import pytest

from acrn.cli.main import main
from acrn.demo.ablate import study_variants
from acrn.viz.report import lookup, percent

TINY = ["--preset", "tiny", "--steps", "2", "--no-progress", "--set", "solver.batch_size=2",
        "--set", "data.num_workers=0", "--set", "data.test_short_side=64", "--set", "data.train_crop=64",
        "--set", "data.train_short_side=[64, 64]"]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out / "report"), "--data", str(out / "data"), *TINY]) == 0
    return out / "report"


def test_demo_writes_a_consistent_report(demo_dir) -> None:
    results = json.loads((demo_dir / "results.json").read_text())
    assert set(results["models"]) == {"Base-Model", "ACRN"}
    for m in results["models"].values():
        assert 0.0 <= m["frame_mAP"] <= 1.0 and m["steps"] == 2
        assert set(m["video_mAP"]) == {"0.2", "0.5", "0.75"}
    assert "pointing" in results["models"]["ACRN"] and "pointing" not in results["models"]["Base-Model"]
    assert results["timing"]["total_seconds"] > 0 and results["timing"]["peak_memory_mb"] > 0
    html = (demo_dir / "report.html").read_text()
    cells = re.findall(r'<td data-key="([^"]+)">([^<]*)</td>', html)
    assert len(cells) >= 6
    for key, shown in cells:
        assert shown == percent(lookup(results, key))
    assert (demo_dir / "report.md").read_text().startswith("# acrn demo")


def test_ablate_variants_follow_table1() -> None:
    assert [v.row for v in study_variants("heads")] == ["Base-Model", "Resize+Concat", "Santoro et al.", "ACRN"]
    frames = study_variants("frames")
    assert len(frames) == 8 and {v.row for v in frames} == {"1", "5", "10", "20"}
    layers = study_variants("layers")
    assert len(layers) == 10 and {v.row for v in layers} == {"Scale 0.5", "Scale 1.0"}


def test_ablate_smoke(tmp_path, demo_dir) -> None:
    data = demo_dir.parent / "data"
    assert main(["ablate", "--study", "heads", "--seeds", "1", "--out", str(tmp_path / "abl"), "--data", str(data),
                 *TINY]) == 0
    res = json.loads((tmp_path / "abl" / "results.json").read_text())
    assert set(res["frame_mAP"]) == {"Base-Model", "Resize+Concat", "Santoro et al.", "ACRN"}
    assert "Table 1a" in (tmp_path / "abl" / "report.md").read_text()
