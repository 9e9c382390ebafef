"""Pointing game: hand-built heatmaps on a 100x100 frame with a 4x4 relation map (25 px cells)."""

from __future__ import annotations

import pytest
import torch

from acrn.demo.pointing import Relation, cell_boxes, gt_people, pointing_game, read_relations
from acrn.errors import InputError
from acrn.structures import Detections

CLASS_IDS = [1, 6, 7]  # stand, catch, throw


def _det(heat_cell: tuple[int, int], catch_score: float = 0.9) -> Detections:
    heat = torch.zeros(1, 3, 4, 4)
    heat[0, 1][heat_cell] = 5.0  # class index 1 = catch
    heat[0, 2][0, 0] = 5.0  # throw's peak elsewhere: must not be used for a catch relation
    return Detections(torch.tensor([[10.0, 10.0, 40.0, 90.0]]), torch.tensor([[0.8, catch_score, 0.1]]),
                      torch.tensor([1.0]), {"video": "v", "timestamp": 1, "orig_size": (100, 100)},
                      heatmaps=heat)


GT = {("v", 1): [(0, [0.1, 0.1, 0.4, 0.9])]}
REL = {("v", 1): [Relation("v", 1, 0, 6, (0.6, 0.1, 0.7, 0.2))]}  # ball at x 60-70, y 10-20: cell (0, 2)


def test_cells_tile_the_frame() -> None:
    cells = cell_boxes(4, 4, (100, 200))
    assert cells.shape == (16, 4)
    assert cells[0].tolist() == [0.0, 0.0, 50.0, 25.0]
    assert cells[-1].tolist() == [150.0, 75.0, 200.0, 100.0]


def test_peak_on_entity_is_a_hit_and_chance_is_the_cell_fraction() -> None:
    res = pointing_game([_det((0, 2))], GT, REL, CLASS_IDS)
    assert (res.hits, res.trials) == (1, 1)
    assert res.as_dict()["chance"] == pytest.approx(1 / 16)  # the ball lies inside one of 16 cells


def test_peak_elsewhere_is_a_miss() -> None:
    res = pointing_game([_det((3, 3))], GT, REL, CLASS_IDS)
    assert (res.hits, res.trials) == (0, 1)


def test_low_score_or_wrong_box_is_not_a_trial() -> None:
    assert pointing_game([_det((0, 2), catch_score=0.3)], GT, REL, CLASS_IDS).trials == 0
    far = _det((0, 2))
    far.boxes = torch.tensor([[60.0, 10.0, 90.0, 90.0]])  # IoU with the actor < 0.5
    res = pointing_game([far], GT, REL, CLASS_IDS)
    assert res.trials == 0 and res.missed_detections == 1


def test_csv_readers(tmp_path) -> None:
    rel = tmp_path / "rel.csv"
    rel.write_text("v,0001,0,6,0.6,0.1,0.7,0.2\n")
    assert read_relations(rel)[("v", 1)][0].entity == (0.6, 0.1, 0.7, 0.2)
    gt = tmp_path / "gt.csv"
    gt.write_text("v,0001,0.1,0.1,0.4,0.9,1,0\nv,0001,0.1,0.1,0.4,0.9,6,0\n")
    assert gt_people(gt) == GT
    rel.write_text("v,0001,0,6,0.6\n")
    with pytest.raises(InputError, match="rel.csv, line 1: expected 8 columns"):
        read_relations(rel)


def test_contrastive_heatmap_removes_what_all_classes_share() -> None:
    from acrn.models.postprocess import contrastive_heatmaps

    heat = torch.tensor([[[1.0, 4.0]], [[3.0, 2.0]]])  # [C=2, 1, 2]
    assert contrastive_heatmaps(heat).tolist() == [[[-1.0, 1.0]], [[1.0, -1.0]]]  # minus the class mean [2, 3]
    shared = torch.randn(1, 1, 2)
    assert torch.allclose(contrastive_heatmaps(heat + shared), contrastive_heatmaps(heat))


def test_a_peak_shared_by_every_class_counts_only_for_the_plain_cam() -> None:
    det = _det((0, 2))
    det.heatmaps[0, :, 3, 0] = 9.0  # a corner that every class's CAM lights up (Mixed_5's zero padding)
    assert pointing_game([det], GT, REL, CLASS_IDS, contrastive=False).hits == 0
    assert pointing_game([det], GT, REL, CLASS_IDS).hits == 1
