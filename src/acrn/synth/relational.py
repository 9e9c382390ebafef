"""The ``relational`` layout (issue #17): a scene in which only the relation decides a relational label.

Every video holds, on its two depth layers (which one at random):

- a *pass*: two standing actors throw a ball back and forth (catch / throw);
- a *hand-over*: two standing actors pass a package back and forth (receive / give);
- 0-2 *solo* actors (stand, walk, run, jump; standing and walking ones may wave), one per layer at
  most, each confined to the free side of its layer so that no ball or package ever crosses it.

So at every labelled key frame (odd seconds: the objects are in mid-flight) the four relational classes
are all present, on four actors that look alike (the same "ready" stance, arms at rest): the clip as a
whole says nothing about an actor's class. What decides it is the entity of *its* pair: its type (ball
or package) and its motion (towards the side the actor faces, or away). The two exchanges keep their own
phase and direction, so "a ball moving towards the side I face" is no longer a global cue of the scene
(README, "The demo").

The pair spacing ``Preset.pair_dist`` (fraction of the width) sets the gap between an actor's box and its
entity at the key frame; ``acrn.synth.stats`` measures it and meta.json reports it.
"""

from __future__ import annotations

from acrn.synth.world import _Builder

EDGE = 0.05  # the left actor of a pair stands at least this far (fraction of the width) from the frame edge
SLACK = 0.04  # and at most EDGE + SLACK
BEHIND = 0.03  # what a standing figure needs behind its feet
SOLO_SEP = 0.09  # clearance between a pair's footprint and a solo actor's feet (its arms swing ~0.35 h)
SOLO_EDGE = 0.06  # a solo actor's feet stay this far from the frame edge
# the back layer stands higher than in the classic layout: a ball thrown on the front layer rises ~0.12 h
# above the hands and would otherwise enter the boxes of back-layer actors
GROUNDS = (0.5, 0.95)


def _place_pair(b: _Builder) -> tuple[float, float, tuple]:
    """(spacing, left actor x, solo span) of one pair: the pair on one side of the layer, the solo span
    (feet x, pixels) on the other."""
    w, rng = b.p.width, b.rng
    on_left = bool(rng.random() < 0.5)
    dist = rng.uniform(*b.p.pair_dist) * w
    shift = rng.uniform(0, SLACK) * w
    if on_left:
        xa = EDGE * w + shift
        span = (xa + dist + (BEHIND + SOLO_SEP) * w, (1 - SOLO_EDGE) * w)
    else:
        xa = (1 - EDGE) * w - shift - dist
        span = (SOLO_EDGE * w, xa - (BEHIND + SOLO_SEP) * w)
    return dist, xa, span


def build_relational(b: _Builder, reverse: tuple = ()) -> None:
    """Add the actors and objects of one relational-layout video to ``b`` (its own random generator).

    ``reverse``: 0 reverses the ball of the pass, 1 the package of the hand-over (swap control).
    """
    p, rng = b.p, b.rng
    b.grounds = GROUNDS
    pass_layer = int(rng.integers(2))
    spans = {}
    for i, group in enumerate(("pass", "handover")):
        layer = pass_layer if group == "pass" else 1 - pass_layer
        dist, xa, spans[layer] = _place_pair(b)
        b.add_exchange(layer, group, dist=dist, xa=xa, reverse=i in reverse)
    weights = [w / sum(p.actor_weights) for w in p.actor_weights]
    n_solo = int(rng.choice([0, 1, 2], p=weights))
    layers = [int(rng.integers(2))] if n_solo == 1 else list(range(n_solo))
    poses = [c for c in ("stand", "walk", "run", "jump") if c in p.classes]
    for layer in layers:
        pose = poses[rng.integers(len(poses))]
        wave = "wave" in p.classes and pose in ("stand", "walk") and rng.random() < p.wave_prob
        b.add_solo(layer, pose, bool(wave), span=spans[layer])
    for _ in range(p.distractors):
        b.add_distractor()
