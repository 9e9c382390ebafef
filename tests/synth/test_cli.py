"""``acrn synth``: generates, reuses, previews, and reports bad input on one line."""

from __future__ import annotations

import argparse
import json

import cv2
import pytest

from acrn.cli import main as cli_main
from acrn.cli import synth_cmd


def parse(argv):
    parser = argparse.ArgumentParser(prog="acrn")
    synth_cmd.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["synth", *argv])


def test_synth_command_generates_reuses_and_previews(tmp_path, capsys):
    out, png = tmp_path / "d", tmp_path / "sheet.png"
    argv = ["--out", str(out), "--videos", "4", "--seed", "2", "--size", "48", "--distractors", "2",
            "--workers", "0", "--preview", str(png)]
    args = parse(argv)
    assert args.func(args) == 0
    report = json.loads(capsys.readouterr().out)
    meta = json.loads((out / "meta.json").read_text())
    assert report["out"] == str(out) and (meta["width"], meta["params"]["distractors"]) == (48, 2)
    assert sum(c["videos"] for c in report["counts"].values()) == 4
    sheet = cv2.imread(str(png))
    assert sheet is not None and sheet.shape[0] >= 2 * 48 and sheet.shape[1] >= 5 * 48  # clips x key frames
    stamp = (out / "meta.json").stat().st_mtime_ns
    args = parse(argv[:-2])
    assert args.func(args) == 0 and (out / "meta.json").stat().st_mtime_ns == stamp  # reused


@pytest.mark.skipif("acrn.cli.synth_cmd" not in cli_main.COMMANDS, reason="synth not yet listed in acrn.cli.main")
def test_bad_input_is_one_line(tmp_path, capsys):
    rc = cli_main.main(["synth", "--out", str(tmp_path / "x"), "--size", "63"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("acrn synth: error:") and "width" in err[0]
    rc = cli_main.main(["synth", "--out", str(tmp_path / "x"), "--classes", "stand,catch"])
    assert rc == 2 and "twin" in capsys.readouterr().err
