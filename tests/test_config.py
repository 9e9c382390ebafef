"""Config: defaults, YAML, --set overrides, and errors that name key, value and what is allowed."""

from __future__ import annotations

import pytest

from acrn.cli.main import main
from acrn.config import ConfigError, dump_yaml, from_dict, load_config, to_dict


def test_defaults_are_the_paper_settings() -> None:
    cfg = load_config()
    assert cfg.model.head == "acrn"
    assert cfg.model.relation_grad_mult == 0.01  # section 4.1
    assert cfg.model.freeze_bn is True
    assert cfg.solver.warmup_start_lr == 1e-5 and cfg.solver.base_lr == 1e-3
    assert cfg.model.rpn.batch_per_image == 256 and cfg.model.rpn.fg_iou == 0.7


def test_yaml_then_overrides(tmp_path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  head: santoro\n  rpn:\n    resnet_depth: 18\nsolver:\n  base_lr: 0.01\n")
    cfg = load_config(p, ["model.head=none", "solver.max_steps=7", "solver.warmup_steps=2",
                          "model.relation_layers=[Mixed_3c]", "solver.base_lr=2e-3"])
    assert cfg.model.head == "none"
    assert cfg.model.rpn.resnet_depth == 18
    assert cfg.solver.max_steps == 7
    assert cfg.solver.base_lr == pytest.approx(2e-3)
    assert cfg.model.relation_layers == ["Mixed_3c"]


@pytest.mark.parametrize(
    "override, fragments",
    [
        ("model.bogus=1", ["unknown key 'model.bogus'", "num_classes"]),
        ("model.head=foo", ["model.head", "'foo'", "acrn"]),
        ("model.width=abc", ["model.width", "expected a number", "'abc'"]),
        ("solver.max_steps=1.5", ["solver.max_steps", "expected an integer"]),
        ("model.multilabel=3", ["model.multilabel", "true or false"]),
        ("model.rpn.fg_iou=1.5", ["model.rpn.fg_iou", "above the maximum 1.0"]),
        ("model.relation_layers=[Mixed_9z]", ["model.relation_layers", "Mixed_9z", "Mixed_4f"]),
        ("nosuch.key=1", ["unknown key 'nosuch'"]),
        ("model.head", ["expected KEY=VALUE"]),
    ],
)
def test_bad_values_name_key_value_and_allowed(override: str, fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    for frag in fragments:
        assert frag in str(e.value)


def test_cross_field_checks() -> None:
    with pytest.raises(ConfigError, match="relation_scales"):
        load_config(None, ["model.relation_layers=[Mixed_3c, Mixed_4f]",
                           "model.relation_scales=[0.5, 1.0, 1.0]"])
    with pytest.raises(ConfigError, match="warmup_steps"):
        load_config(None, ["solver.max_steps=10", "solver.warmup_steps=20"])


def test_yaml_errors_name_the_file(tmp_path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("model:\n  head: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(p)
    p.write_text("model:\n  nope: 1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'model.nope'"):
        load_config(p)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_round_trip_through_dict_and_yaml(tmp_path) -> None:
    cfg = load_config(None, ["model.head=santoro", "data.num_frames=8"])
    assert from_dict(to_dict(cfg)) == cfg
    p = tmp_path / "dump.yaml"
    p.write_text(dump_yaml(cfg))
    assert load_config(p) == cfg


def test_every_shipped_config_loads() -> None:
    from pathlib import Path

    files = sorted(Path(__file__).resolve().parents[1].joinpath("configs").glob("**/*.yaml"))
    for f in files:
        load_config(f)


def test_cli_config_show(capsys) -> None:
    assert main(["config", "show", "--set", "model.head=none"]) == 0
    out = capsys.readouterr().out
    assert "head: none  # relation head" in out
    assert main(["config", "show", "--set", "model.head=bad"]) == 2
    err = capsys.readouterr().err
    assert "model.head" in err and "allowed" in err and "Traceback" not in err
