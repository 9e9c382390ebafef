"""The relational benchmark: procedural videos whose relational actions (catch/throw, give/receive,
follow/lead) can only be told apart by an entity outside the actor's box (paper, Figure 1), written in
the AVA layout (mp4, frames, CSV, pbtxt, proposals) and as a JHMDB-style ground-truth pickle.

Public API::

    from acrn.synth import generate
    root = generate("data/synth-demo", preset="demo", seed=0)   # -> Path; reused when already there

See ``acrn.synth.presets`` for the presets and knobs, ``acrn.synth.world`` for the scene rules,
``acrn.synth.relational`` for the issue-#17 layout (preset ``relational``), ``acrn.synth.stats`` for the
statistics written to its meta.json and ``acrn.synth.controls`` for the crop-only control input.
"""

from acrn.synth.controls import crop_only
from acrn.synth.generator import generate, read_meta, video_id
from acrn.synth.presets import CATALOGUE, PRESETS, Preset, resolve_preset
from acrn.synth.stats import relational_stats

__all__ = ["generate", "read_meta", "video_id", "CATALOGUE", "PRESETS", "Preset", "resolve_preset", "crop_only",
           "relational_stats"]
