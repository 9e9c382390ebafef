"""MMAction2 ACRN import: the mapping against MMAction2's own outputs (fixture), bad input, CLI, configs.

The fixture ``tests/fixtures/mmaction2/small_acrn.npz`` was written by ``tools/mmaction2_equivalence.py
reference --small`` in the MMAction2 1.2.0 reference venv: a reduced-width model (same 648-key layout as the
published SlowFast-R50 ACRN, fp16-exact weights, random BN statistics), one clip, two boxes and MMAction2's
backbone features, RoI features and class scores.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from acrn.cli.main import main
from acrn.config import load_config, to_dict
from acrn.errors import InputError
from acrn.models.import_mmaction2 import convert_mmaction2, mmaction2_config

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "mmaction2" / "small_acrn.npz"


def _tool():
    spec = importlib.util.spec_from_file_location("mmaction2_equivalence", ROOT / "tools" / "mmaction2_equivalence.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("mmaction2_equivalence", mod)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def fixture():
    return dict(np.load(FIXTURE))


@pytest.fixture(scope="module")
def small_pth(tmp_path_factory, fixture):
    path = tmp_path_factory.mktemp("mm") / "small.pth"
    torch.save({"meta": {"mmengine_version": "0.10.7", "epoch": 10}, "state_dict": _tool().unpack_state(fixture)}, path)
    return path


@pytest.fixture(scope="module")
def converted(tmp_path_factory, small_pth):
    out = tmp_path_factory.mktemp("acrn") / "acrn.pt"
    return convert_mmaction2(small_pth, out), out


def test_every_tensor_mapped_and_outputs_match_mmaction2(converted, fixture):
    result, out = converted
    assert len(result.loaded) + len(result.dropped) == len(fixture["state_keys"]) == 648
    assert set(result.dropped.values()) == {"BN step counter"}
    diffs = _tool().compare(fixture, str(out))
    assert max(diffs.values()) <= 1e-4, diffs


def test_label_map_travels_with_the_checkpoint(converted):
    from acrn.engine.checkpoint import load_checkpoint
    from acrn.eval.labelmap import AVA_V21_60_CLASS_IDS

    payload = load_checkpoint(converted[1])
    extra = payload["extra"]
    assert extra["class_ids"] == list(range(1, 81)) and extra["class_names"][0] == "bend/bow (at the waist)"
    assert extra["eval_class_ids"] == list(AVA_V21_60_CLASS_IDS)
    assert payload["config"]["model"]["head"] == "acrn_tiled"


def _save(path, state, meta=None):
    torch.save({"meta": meta or {}, "state_dict": state}, path)
    return path


@pytest.mark.parametrize("case", ["missing", "shape", "unexpected", "classifier", "mmdet", "truncated", "code"])
def test_bad_checkpoints_are_refused_with_one_line_and_nothing_written(tmp_path, fixture, case, capsys):
    state = _tool().unpack_state(fixture)
    src = tmp_path / "bad.pth"
    expect = {"missing": "roi_head.shared_head.conv2.bn.running_var", "shape": "expected (16,)",
              "unexpected": "unexpected key 'roi_head.bbox_head.fc_reg.weight'", "classifier": "SlowFast classifier",
              "mmdet": "not an MMAction2 SlowFast ACRN", "truncated": "not a readable", "code": "could run code"}[case]
    if case == "missing":
        del state["roi_head.shared_head.conv2.bn.running_var"]
    elif case == "shape":
        state["roi_head.shared_head.conv2.bn.running_var"] = torch.ones(17)
    elif case == "unexpected":
        state["roi_head.bbox_head.fc_reg.weight"] = torch.ones(4, 16)
    elif case == "classifier":
        state = {k: v for k, v in state.items() if not k.startswith("roi_head.")}
        state["cls_head.fc_cls.weight"] = torch.ones(400, 96)
    elif case == "mmdet":
        state = {"backbone.conv1.weight": torch.ones(1), "rpn_head.rpn_conv.weight": torch.ones(1)}
    if case == "truncated":
        _save(src, state)
        src.write_bytes(src.read_bytes()[:5000])
    elif case == "code":
        _save(src, state, meta={"hook": _Evil()})
    else:
        _save(src, state)
    out = tmp_path / "out.pt"
    with pytest.raises(InputError, match=expect.replace("(", r"\(").replace(")", r"\)")):
        convert_mmaction2(src, out)
    assert not out.exists()
    assert main(["weights", "import", "mmaction2", str(src), "--out", str(out)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and not out.exists()


class _Evil:
    def __reduce__(self):
        return (print, ("this pickle ran code",))


def test_cli_import(small_pth, tmp_path, capsys):
    out = tmp_path / "cli.pt"
    assert main(["weights", "import", "mmaction2", str(small_pth), "--out", str(out)]) == 0
    assert "546" not in capsys.readouterr().out and out.is_file()  # reduced model: 541 tensors


@pytest.mark.parametrize("name,variant", [("ava_v21_mmaction2_acrn.yaml", "ava21"),
                                          ("ava_v22_mmaction2_acrn.yaml", "ava22")])
def test_ready_configs_are_the_importer_config(name, variant):
    cfg = load_config(ROOT / "configs" / name)
    want = to_dict(mmaction2_config(variant=variant))
    got = to_dict(cfg)
    for section in ("model", "data"):
        diff = {k: (got[section][k], v) for k, v in want[section].items()
                if got[section][k] != v and k not in ("root", "labelmap")}
        assert not diff, diff
