"""Smoke tests of ``acrn demo`` (the study's short form) and ``acrn ablate`` on tiny sets (a few steps).

They check the plumbing and the report, not the accuracy (the demo's numbers are measured by running it).
"""

from __future__ import annotations

import json
import re

import pytest

from acrn.cli.main import main
from acrn.demo.ablate import study_variants
from acrn.viz.report import lookup
from tests.conftest import smoke_args

TINY = ["--preset", "tiny", "--steps", "2", "--no-progress", "--set", "solver.batch_size=2",
        "--set", "data.num_workers=0", "--set", "data.test_short_side=64", "--set", "data.train_crop=64",
        "--set", "data.train_short_side=[64, 64]"]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory, smoke_sets):
    out = tmp_path_factory.mktemp("demo") / "report"
    assert main(["demo", "--out", str(out), "--workers", "1", "--no-progress", *smoke_args(smoke_sets)]) == 0
    return out


def _first_number(text: str) -> float:
    return float(re.search(r"[-+]?\d+\.\d", text).group())


def test_demo_writes_a_consistent_report(demo_dir) -> None:
    results = json.loads((demo_dir / "results.json").read_text())
    assert set(results["heads"]) == {"Base-Model", "ACRN"}
    for m in results["heads"].values():
        assert 0.0 <= m["frame_mAP"]["mean"] <= 1.0 and len(m["frame_mAP"]["values"]) == 2
        assert m["video_mAP"]["mean"] is not None
    assert results["paired"]["frame_mAP"]["seeds"] == [0, 1] and results["protocol"]["steps"] == 2
    assert results["pointing"] is not None or results["per_seed"]
    assert results["timing"]["total_seconds"] > 0 and results["timing"]["peak_memory_mb"] > 0
    html = (demo_dir / "report.html").read_text()
    cells = re.findall(r'<td data-key="([^"]+)">([^<]*)</td>', html)
    assert len(cells) >= 8
    for key, shown in cells:  # what a reader sees is the results file's number
        assert _first_number(shown) == pytest.approx(round(100 * lookup(results, key), 1), abs=0.051)
    md = (demo_dir / "report.md").read_text()
    assert md.startswith("# acrn demo") and "95 % t interval" in md and "Figure 7" in md


def test_ablate_variants_follow_table1() -> None:
    assert [v.row for v in study_variants("heads")] == ["Base-Model", "Resize+Concat", "Santoro et al.", "ACRN"]
    frames = study_variants("frames")
    assert len(frames) == 8 and {v.row for v in frames} == {"1", "5", "10", "20"}
    layers = study_variants("layers")
    assert len(layers) == 10 and {v.row for v in layers} == {"Scale 0.5", "Scale 1.0"}


def test_ablate_smoke(tmp_path) -> None:
    assert main(["ablate", "--study", "heads", "--seeds", "1", "--out", str(tmp_path / "abl"),
                 "--data", str(tmp_path / "data"), *TINY]) == 0
    res = json.loads((tmp_path / "abl" / "results.json").read_text())
    assert set(res["frame_mAP"]) == {"Base-Model", "Resize+Concat", "Santoro et al.", "ACRN"}
    assert "Table 1a" in (tmp_path / "abl" / "report.md").read_text()
