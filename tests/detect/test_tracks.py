"""Linking person boxes into tracks: hand-built sequences with known identities."""

from __future__ import annotations

import torch

from acrn.detect.persons import PersonFrames
from acrn.detect.tracks import link_tracks


def _frames(per_frame: list[list[list[float]]], step: int = 1) -> PersonFrames:
    boxes = [torch.tensor(b, dtype=torch.float32).reshape(-1, 4) for b in per_frame]
    scores = [torch.linspace(0.9, 0.8, len(b)) if len(b) else torch.zeros(0) for b in boxes]
    return PersonFrames([i * step for i in range(len(per_frame))], boxes, scores, step)


def test_two_walkers_keep_their_ids_whatever_the_detection_order() -> None:
    a = [[10 + 5 * i, 10, 40 + 5 * i, 90] for i in range(6)]
    b = [[200 - 5 * i, 20, 230 - 5 * i, 100] for i in range(6)]
    per = [[a[i], b[i]] if i % 2 else [b[i], a[i]] for i in range(6)]  # order flips every frame
    tracks = link_tracks(_frames(per), min_hits=1)
    assert len(tracks) == 2
    first = {t.id: t.boxes[0].tolist() for t in tracks.tracks}
    assert first[0] in (a[0], b[0]) and sorted(map(tuple, first.values())) == sorted([tuple(a[0]), tuple(b[0])])
    for t in tracks.tracks:
        xs = t.boxes[:, 0].tolist()
        assert xs == sorted(xs) or xs == sorted(xs, reverse=True)  # each track is one walker, monotone
        assert t.frames == list(range(6))


def test_a_missed_frame_is_interpolated_and_ids_are_by_first_appearance() -> None:
    per = [[[0, 0, 10, 20]], [[2, 0, 12, 20]], [], [[6, 0, 16, 20]], [[8, 0, 18, 20], [100, 100, 120, 140]]]
    tracks = link_tracks(_frames(per), min_hits=1)
    assert [t.id for t in tracks.tracks] == [0, 1] and tracks.tracks[1].frames == [4]
    ids, boxes, scores = tracks.at(2)
    assert ids == [0]
    torch.testing.assert_close(boxes[0], torch.tensor([4.0, 0, 14, 20]))  # halfway between frames 1 and 3
    ids, boxes, scores = tracks.at(5)  # after every track's last detection
    assert ids == [] and boxes.shape == (0, 4) and scores.shape == (0,)


def test_min_hits_drops_flicker_and_max_gap_ends_a_track() -> None:
    person = [0, 0, 10, 20]
    per = [[person], [person, [50, 50, 60, 70]], [person], [], [], [], [person]]
    tracks = link_tracks(_frames(per), max_gap=2, min_hits=2)
    # The one-frame false positive is gone; the person's track ends after 3 misses (> max_gap 2) and
    # the reappearance on frame 6 is a new track with one hit, dropped by min_hits as well.
    assert len(tracks) == 1 and tracks.tracks[0].frames == [0, 1, 2]
    tracks = link_tracks(_frames(per), max_gap=3, min_hits=2)
    assert len(tracks) == 1 and tracks.tracks[0].frames == [0, 1, 2, 6]


def test_constant_velocity_keeps_an_accelerating_walker() -> None:
    # A 20 px wide box moves 12 px, then 16 px per frame: from the last box the next one overlaps by
    # IoU 4/36 = 0.11 only, from the box moved by the track's velocity (12 px) by 16/24 = 0.67.
    xs = [0, 12, 28, 44, 60]
    per = [[[x, 0, x + 20, 60]] for x in xs]
    tracks = link_tracks(_frames(per), iou_threshold=0.2, min_hits=1)
    assert len(tracks) == 1 and tracks.tracks[0].frames == [0, 1, 2, 3, 4]
    still = [[[x, 0, x + 20, 60]] for x in [0, 0, 16]]  # no velocity: IoU 4/36 < 0.2 breaks the track
    assert len(link_tracks(_frames(still), iou_threshold=0.2, min_hits=1)) == 2


def test_min_hits_is_clamped_for_one_box_per_key_frame() -> None:
    tracks = link_tracks(_frames([[[0, 0, 10, 20]]], step=28), min_hits=3)
    assert len(tracks) == 1
