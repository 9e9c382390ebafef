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
