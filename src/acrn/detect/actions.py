"""Stage 4 of ``acrn detect``: key frames + :class:`~acrn.detect.tracks.Tracks` -> :class:`KeyFrameActions`.

Each key frame's tracked persons are the actors: their boxes go to the action model as given boxes
(``model.actors = "file"``, whatever the checkpoint was trained with), the clip around the key frame is
read and transformed exactly as at evaluation (:class:`~acrn.data.ClipDataset` with the checkpoint's
frames, sample rate, test resize and normalisation), and every actor gets class probabilities and, for
an ACRN head, its relation heatmaps (section 4.4), in the order of its track ids.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from acrn.config import Config
from acrn.data import transforms as T
from acrn.detect.decode import KeyFrame, Video
from acrn.detect.tracks import Tracks


@dataclass
class KeyFrameActions:
    """The actors of one key frame.

    Attributes:
        keyframe: which frame.
        track_ids: ``K`` track ids (the actor's identity across key frames).
        boxes: ``Tensor[K, 4]`` xyxy original pixels (from the tracks).
        person_scores: ``Tensor[K]`` the person detector's score of each box.
        scores: ``Tensor[K, C]`` action probabilities (sigmoid multi-label, or softmax without background).
        heatmaps: ``Tensor[K, C, h, w]`` relation heatmaps (ACRN heads), else ``None``.
    """

    keyframe: KeyFrame
    track_ids: list[int]
    boxes: Tensor
    person_scores: Tensor
    scores: Tensor
    heatmaps: Tensor | None = None


@dataclass
class ActionModel:
    """A trained detector ready to label given actor boxes (built by :func:`load_action_model`)."""

    cfg: Config
    model: nn.Module
    postprocess: object  # PostProcess: its ``probabilities(logits)`` turns logits into class scores
    class_ids: list[int]
    class_names: list[str]
    device: torch.device
    rpn: nn.Module | None = None  # the checkpoint's own actor network (ResNet + RPN), kept for ``--actors rpn``
    seconds: dict[str, float] = field(default_factory=dict)


def load_action_model(checkpoint: str | Path, overrides: Sequence[str] = (), device: torch.device | str = "cpu",
                      actors: str = "file") -> ActionModel:
    """The checkpoint's detector labelling given boxes (its actor branch replaced by ``FileActors``).

    ``actors="rpn"`` keeps the checkpoint's own actor network aside as ``rpn`` (a person source for
    :func:`acrn.detect.persons.rpn_persons`); the checkpoint must have been trained with it.
    """
    from acrn.engine.infer import load_detector
    from acrn.engine.proposals import ActorProposals
    from acrn.models.detector import FileActors

    if actors not in ("file", "rpn"):
        raise ValueError(f"actors must be 'file' or 'rpn', got {actors!r}")
    cfg, model, postprocess, extra = load_detector(checkpoint, list(overrides), device,
                                                   actors="file" if actors == "file" else None)
    rpn = None
    if actors == "rpn":
        rpn = ActorProposals(model)  # InputError when the checkpoint has no RPN
        model.actors = FileActors()
    return ActionModel(cfg, model, postprocess, list(extra["class_ids"]), list(extra["class_names"]),
                       torch.device(device), rpn)


class _OneVideo:
    """The frame-source interface of :class:`~acrn.data.FrameSources` for one already opened video."""

    def __init__(self, video: Video) -> None:
        self.video = video

    def open(self, video: str):
        return self.video.reader

    def key_frame(self, rec, src) -> int:
        return rec.frame


def clip_dataset(video: Video, am: ActionModel, records: list):
    """A test-time :class:`~acrn.data.ClipDataset` of ``records`` (:class:`~acrn.data.ClipRecord`) of
    ``video``, with the checkpoint's frames, sample rate, resize and normalisation."""
    from acrn.data import ClipDataset

    cfg = am.cfg
    flow = "online" if cfg.data.flow != "none" else None  # user videos have no flow cache
    return ClipDataset(records, _OneVideo(video), class_ids=am.class_ids, class_names=am.class_names,
                       multilabel=cfg.model.multilabel, num_frames=cfg.data.num_frames,
                       sample_rate=cfg.data.sample_rate, transform=T.TestTransform(cfg.data.test_short_side),
                       mean=cfg.data.mean, std=cfg.data.std, flow=flow, flow_method=cfg.data.flow_method)


def empty_labels(am: ActionModel) -> np.ndarray:
    return np.zeros((0, len(am.class_ids)), np.float32) if am.cfg.model.multilabel else np.zeros(0, np.int64)


def actor_dataset(video: Video, tracks: Tracks, am: ActionModel):
    """The clips of the key frames with actors, and per sample the kept ``(keyframe, ids, boxes, person
    scores)`` (boxes too small to survive the test resize are left out, as the dataset would drop them)."""
    from acrn.data import ClipRecord

    h, w = video.size
    g = T.plan_test((h, w), am.cfg.data.test_short_side)
    norm = np.array([w, h, w, h], np.float32)
    records, actors = [], []
    for k in video.keyframes:
        ids, boxes, scores = tracks.at(k.index)
        if not ids:
            continue
        _, keep = T.apply_boxes(boxes.numpy(), g)
        if not keep.any():
            continue
        keep_t = torch.from_numpy(keep)
        ids = [i for i, kp in zip(ids, keep) if kp]
        boxes, scores = boxes[keep_t], scores[keep_t]
        props = np.concatenate([boxes.numpy() / norm, scores.numpy()[:, None]], 1).astype(np.float32)
        records.append(ClipRecord(video.stem, k.time, np.zeros((0, 4), np.float32), empty_labels(am),
                                  frame=k.index, time=k.time, proposals=props))
        actors.append((k, ids, boxes, scores))
    return clip_dataset(video, am, records), actors


@torch.inference_mode()
def classify_actions(video: Video, tracks: Tracks, am: ActionModel) -> list[KeyFrameActions]:
    """Label the tracked persons of every key frame (key frames with no person are left out)."""
    from acrn.data import collate

    ds, actors = actor_dataset(video, tracks, am)
    out = []
    t_read = t_model = 0.0
    for i, (k, ids, boxes, person_scores) in enumerate(actors):
        t0 = time.perf_counter()
        batch = collate([ds[i]]).to(am.device)
        t1 = time.perf_counter()
        outputs = forward(am.model, batch)
        probs = am.postprocess.probabilities(outputs["logits"].float()).cpu()
        heat = outputs.get("heatmaps")
        out.append(KeyFrameActions(k, ids, boxes, person_scores, probs, None if heat is None else heat.float().cpu()))
        t_read, t_model = t_read + t1 - t0, t_model + time.perf_counter() - t1
    am.seconds = {"clips": t_read, "actions": t_model}
    return out


def forward(model: nn.Module, batch) -> dict:
    """One eval-mode forward (channels-last input when the model was prepared for it)."""
    if getattr(model, "channels_last_input", False):  # see acrn.engine.infer.optimize_for_inference
        batch.clips = batch.clips.contiguous(memory_format=torch.channels_last_3d)
    return model(batch)
