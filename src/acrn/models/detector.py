"""ActionDetector: actor boxes + S3D-G features + action head / relation head + predictor (Figure 2).

    clips --backbone--> endpoints --t x 1 x 1 conv--> F: Tensor[B, C4f, h, w]           (section 3.1)
    key frames --ResNet + RPN--> proposals  (or boxes from a file / ground truth)
    training: 64 sampled ROIs per clip; test: all proposals
    F --ROI align 7x7--> crops --head (Base / Resize+Concat / Santoro / ACRN)--> features
    features --linear--> logits Tensor[R, K], box deltas Tensor[R, 4]

The model returns outputs only; losses are in :mod:`acrn.models.losses`, post-processing in
:mod:`acrn.models.postprocess`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from acrn.errors import InputError
from acrn.models.action_head import Predictor, crop_actors, normalised_boxes
from acrn.models.roi_sampler import ROISampler, match_rois
from acrn.models.rpn import RegionProposalNetwork
from acrn.structures import Batch


def keyframes_of(batch: Batch) -> Tensor:
    """``Tensor[B, 3, H, W]``: ``batch.keyframes`` or the middle frame of each clip."""
    if batch.keyframes is not None:
        return batch.keyframes
    return batch.clips[:, :, batch.clips.shape[2] // 2]


class RPNActors(nn.Module):
    """Actor proposals from a 2D ResNet + RPN on the key frame, trained jointly (section 3.1).

    ``forward(batch) -> dict``: ``proposals``/``proposal_scores`` (lists per clip) and the RPN's raw
    ``objectness``, ``deltas``, ``anchors`` for :func:`acrn.models.rpn.rpn_loss`.
    """

    def __init__(self, resnet: nn.Module, rpn: RegionProposalNetwork) -> None:
        super().__init__()
        self.resnet = resnet
        self.rpn = rpn

    def forward(self, batch: Batch) -> dict:
        return self.rpn(self.resnet(keyframes_of(batch)), batch.image_sizes)


class FileActors(nn.Module):
    """Actor boxes read from a proposals file (``Batch.proposals``; AVA practice)."""

    def forward(self, batch: Batch) -> dict:
        if batch.proposals is None:
            raise InputError("model.actors='file' needs proposals in the batch: set data.proposals to a "
                             "proposals CSV/pickle")
        scores = batch.proposal_scores
        if scores is None:
            scores = [torch.ones(p.shape[0], device=p.device) for p in batch.proposals]
        return {"proposals": list(batch.proposals), "proposal_scores": list(scores)}


class GTActors(nn.Module):
    """Ground-truth actor boxes as proposals (oracle localisation), in training and at test time."""

    def forward(self, batch: Batch) -> dict:
        return {"proposals": list(batch.boxes),
                "proposal_scores": [torch.ones(b.shape[0], device=b.device) for b in batch.boxes]}


class ActionDetector(nn.Module):
    """The action detector of Figure 2.

    Args:
        backbone: ``(rgb, flow) -> dict[str, Tensor[B, C, t, h, w]]`` endpoints up to ``Mixed_4f``.
        flatten: t x 1 x 1 conv, ``Tensor[B, C4f, t, h, w] -> Tensor[B, C4f, h, w]`` (F).
        actors: :class:`RPNActors`, :class:`FileActors` or :class:`GTActors`.
        scene_maps: :class:`acrn.models.relation.SceneMaps` or ``None`` for the Base-Model.
        head: :class:`ActorHead` or one of the relation heads (same call signature).
        predictor: classifier + box regressor on ``head``'s ``features``.
        sampler: training-time ROI sampler; at test time every proposal is classified.
        spatial_scale: ``1 / stride`` of F (1/16); roi_size, sampling_ratio: ROI align parameters.
        multilabel: sigmoid classes (True) or softmax with background at logit 0 (False).

    Frozen batch-norm (section 4.1) is structural: the builder swaps BatchNorm for ``FrozenBatchNorm``.

    ``forward(batch) -> dict``: ``rois`` ``Tensor[R, 5]`` (clip index, xyxy input pixels, ROIs of clip 0
    first), ``rois_per_clip`` (list of B ints), ``roi_scores`` ``Tensor[R]`` (actor confidence),
    ``roi_matched`` ``Tensor[R]`` (index of the matched ground-truth actor of the same clip, -1 for
    background), ``logits`` ``Tensor[R, K]``, ``box_deltas`` ``Tensor[R, 4]`` or ``None``, ``features``
    (the classifier's input), ``f_a``, ``f_rn`` (relation heads), ``rpn`` (the RPN's outputs when actors
    come from it), ``image_size`` ``(H, W)``, and in eval mode for ACRN ``heatmaps`` ``Tensor[R, C, h, w]``
    (:meth:`heatmaps_from_map`).
    """

    def __init__(self, backbone: nn.Module, flatten: nn.Module, actors: nn.Module, scene_maps: nn.Module | None,
                 head: nn.Module, predictor: Predictor, sampler: ROISampler, spatial_scale: float = 1 / 16,
                 roi_size: int = 7, sampling_ratio: int = 0, multilabel: bool = True) -> None:
        super().__init__()
        self.backbone = backbone
        self.flatten = flatten
        self.actors = actors
        self.scene_maps = scene_maps
        self.head = head
        self.predictor = predictor
        self.sampler = sampler
        self.spatial_scale = spatial_scale
        self.roi_size = roi_size
        self.sampling_ratio = sampling_ratio
        self.multilabel = multilabel

    def features(self, batch: Batch) -> tuple[dict[str, Tensor], Tensor]:
        """Backbone endpoints and F = flattened Mixed_4f ``Tensor[B, C4f, h, w]``."""
        endpoints = self.backbone(batch.clips, batch.flows)
        return endpoints, self.flatten(endpoints["Mixed_4f"])

    def forward(self, batch: Batch) -> dict:
        endpoints, fmap = self.features(batch)
        actors = self.actors(batch)
        rois, scores, matched, counts = self.select_rois(actors, batch)
        out = self.classify(endpoints, fmap, rois, batch)
        out.update(rois=rois, roi_scores=scores, roi_matched=matched, rois_per_clip=counts,
                   image_size=tuple(batch.clips.shape[-2:]))
        if "objectness" in actors:
            out["rpn"] = {k: actors[k] for k in ("objectness", "deltas", "anchors", "proposals", "proposal_scores")}
        if not self.training and "relation_map" in out:
            out["heatmaps"] = self.heatmaps_from_map(out.pop("relation_map"))
        else:
            out.pop("relation_map", None)
        return out

    def select_rois(self, actors: dict, batch: Batch) -> tuple[Tensor, Tensor, Tensor, list[int]]:
        """Training: sample ROIs per clip (with labels); test: every proposal, matched for reference."""
        rois, scores, matched, counts = [], [], [], []
        for b, (props, s) in enumerate(zip(actors["proposals"], actors["proposal_scores"])):
            props, s = props.to(batch.clips.dtype), s.to(batch.clips.dtype)  # file boxes may be float64
            gt = batch.boxes[b].to(props)
            if self.training:
                props, s, m = self.sampler(props, s, gt)
            else:
                m = match_rois(props, gt, self.sampler.fg_iou)
            rois.append(torch.cat([torch.full_like(props[:, :1], b), props], 1))
            scores.append(s)
            matched.append(m)
            counts.append(props.shape[0])
        return torch.cat(rois), torch.cat(scores), torch.cat(matched), counts

    def classify(self, endpoints: dict[str, Tensor], fmap: Tensor, rois: Tensor, batch: Batch) -> dict:
        """Crops, head and predictor for ``rois`` ``Tensor[R, 5]``."""
        crops = crop_actors(fmap, rois, self.roi_size, self.spatial_scale, self.sampling_ratio)
        scene = self.scene_maps(endpoints, fmap) if self.scene_maps is not None else []
        h, w = batch.clips.shape[-2:]
        out = self.head(crops, normalised_boxes(rois, h, w), rois[:, 0].long(), scene)
        out["logits"], out["box_deltas"] = self.predictor(out["features"])
        return out

    def heatmaps_from_map(self, relation_map: Tensor) -> Tensor:
        """Relation heatmaps (section 4.4, CAM [63]): the classifier's relation half as a 1x1 conv.

        ``Tensor[R, Cr, t, h, w] -> Tensor[R, C, h, w]`` (time averaged; background logit dropped for
        softmax heads). Their spatial mean equals the relation half of the class logit, without bias.
        """
        weight = self.predictor.cls_score.weight[:, -relation_map.shape[1]:]  # [K, Cr]: the f_RN columns
        if not self.multilabel:
            weight = weight[1:]
        return torch.einsum("rcthw,kc->rkhw", relation_map, weight) / relation_map.shape[2]

    @torch.no_grad()
    def relation_heatmaps(self, batch: Batch, boxes: list[Tensor], upsample: bool = False) -> list[Tensor]:
        """Relation heatmaps of given actor boxes: list of B ``Tensor[R_b, C, h, w]`` at the relation map's
        resolution, or at the input frame's ``(H, W)`` with ``upsample=True`` (bilinear). Needs head='acrn'."""
        if not hasattr(self.head, "g_theta") or not hasattr(self.head, "mixed5"):
            raise InputError("relation heatmaps need model.head='acrn'")
        endpoints, fmap = self.features(batch)
        rois = torch.cat([torch.cat([torch.full_like(b[:, :1], i), b.to(fmap)], 1) for i, b in enumerate(boxes)])
        out = self.classify(endpoints, fmap, rois, batch)
        heat = self.heatmaps_from_map(out["relation_map"])
        if upsample and heat.shape[0]:
            heat = F.interpolate(heat, size=tuple(batch.clips.shape[-2:]), mode="bilinear", align_corners=False)
        return list(heat.split([b.shape[0] for b in boxes]))
