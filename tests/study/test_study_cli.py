"""``acrn study relations`` end to end on tiny sets: report, resume, and the one-line refusals."""

from __future__ import annotations

import json

import pytest

from acrn.cli.main import main
from tests.conftest import smoke_args

ARGS = ["--seeds", "2", "--heads", "none,acrn", "--other-frames", "4", "--workers", "1"]


@pytest.fixture(scope="module")
def study(tmp_path_factory, smoke_sets):
    out = tmp_path_factory.mktemp("study") / "out"
    assert main(["study", "relations", "--out", str(out), *ARGS, *smoke_args(smoke_sets)]) == 0
    return out


def test_report_holds_every_run_and_the_goals(study) -> None:
    res = json.loads((study / "results.json").read_text())
    runs = sorted(p.parent.name for p in (study / "runs").glob("*/result.json"))
    assert runs == sorted(f"{h}-seed{s}" for s in (0, 1) for h in ("none-T8", "acrn-T8", "none-T8-crop", "none-T4",
                                                                    "acrn-T4"))
    assert not list((study / "runs").glob("*/checkpoint_last.pt"))  # fine-tuned weights are not kept
    assert set(res["table_1b"]) == {"4", "8"} and res["crop_only"]["mean"] is not None
    assert {g["goal"].split(" ")[0] for g in res["goals"]} >= {"ACRN", "seed-to-seed", "crop-only"}
    assert res["chance"]["twin_blind"]["mean"] > res["chance"]["entity_blind"]["mean"] > 0
    md = (study / "report.md").read_text()
    assert "Table 1a" in md and "Table 1b" in md and (study / "figures" / "paired_differences.png").is_file()


def test_a_second_start_resumes_and_redoes_only_what_is_missing(study, smoke_sets, capsys) -> None:
    before = json.loads((study / "results.json").read_text())
    (study / "runs" / "acrn-T4-seed1" / "result.json").unlink()
    capsys.readouterr()
    assert main(["study", "relations", "--out", str(study), *ARGS, *smoke_args(smoke_sets)]) == 0
    err = capsys.readouterr().err
    assert "pretrained Base-Model reused" in err and "reusing 9 finished run(s); 1 to do" in err
    after = json.loads((study / "results.json").read_text())
    assert after["paired"] == before["paired"]  # training is deterministic for a seed
    assert after["table_1b"]["4"]["ACRN"]["values"] == pytest.approx(before["table_1b"]["4"]["ACRN"]["values"])


def test_missing_or_mismatched_pretrained_checkpoint_is_one_line(study, smoke_sets, tmp_path, capsys) -> None:
    args = ["study", "relations", "--out", str(tmp_path / "o"), *ARGS, *smoke_args(smoke_sets)]
    assert main([*args, "--pretrained", str(tmp_path / "nope.pt")]) == 2
    assert "nope.pt: pretrained checkpoint not found" in capsys.readouterr().err
    pre = next(smoke_sets["cache"].glob("*/pretrained.pt"))
    assert main([*args, "--pretrained", str(pre), "--set", "model.width=0.5"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and "pretrained with model.width=0.25, but this run has model.width=0.5" in err[0]
    assert not (tmp_path / "o" / "runs").exists()
