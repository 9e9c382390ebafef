"""Fixtures of the synthetic-benchmark tests: one tiny dataset per session, generated twice (in this
process and with a 2-process pool) to check that scheduling does not change a byte."""

from __future__ import annotations

import pytest
from synth_probe import TINY_KNOBS

from acrn.synth import generate


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("synth") / "tiny", "tiny", seed=3, workers=0, **TINY_KNOBS)


@pytest.fixture(scope="session")
def tiny_root_pool(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("synth_pool") / "tiny", "tiny", seed=3, workers=2, **TINY_KNOBS)
