"""The study's fine-tuning settings: 600 steps and a 10x relation learning rate; the demo keeps 400 at 1x."""

from acrn.demo.demo import DEMO_STEPS, DemoOptions, study_options
from acrn.study.relations import StudyOptions, _lr_mult


def test_study_defaults_raise_the_relation_learning_rate():
    opts = StudyOptions()
    assert opts.steps == 600
    assert _lr_mult(opts) == ["solver.relation_lr_mult=10"]


def test_demo_keeps_the_plain_learning_rate():
    opts = study_options(DemoOptions())
    assert opts.steps == DEMO_STEPS == 400
    assert _lr_mult(opts) == []  # no override: the demo's run fingerprints stay those of its earlier runs


def test_synth_knobs_reach_both_sets(monkeypatch, tmp_path):
    """``--synth-set width=448``: both synthetic sets are generated with the knob; unknown knobs are refused."""
    import pytest

    from acrn.cli.study_cmd import _knobs
    from acrn.errors import InputError
    from acrn.study import relations

    calls = []
    monkeypatch.setattr("acrn.synth.generate", lambda out, **kw: calls.append(kw) or out)
    opts = StudyOptions(data=tmp_path / "d", pretrain_data=tmp_path / "p", synth_knobs=_knobs(["width=448"]))
    relations.ensure_sets(opts)
    assert [c["width"] for c in calls] == [448, 448] and isinstance(calls[0]["width"], int)
    with pytest.raises(InputError, match="--synth-set 'widht=448'"):
        _knobs(["widht=448"])
