"""``build_model(cfg) -> (model, criterion, postprocess)``: the only reader of ``cfg.model`` for the detector."""

from __future__ import annotations

import logging

from torch import nn

from acrn.config import Config, ModelConfig
from acrn.models.action_head import ActorHead, Predictor
from acrn.models.backbone import TemporalFlatten, build_backbone, build_mixed5, endpoint_shape, freeze_bn
from acrn.models.detector import ActionDetector, FileActors, GTActors, RPNActors
from acrn.models.losses import DetectionCriterion
from acrn.models.mmaction_acrn import TiledACRNHead
from acrn.models.postprocess import PostProcess
from acrn.models.relation import ACRNHead, PairwiseRelation, ResizeConcatHead, SantoroHead, SceneMaps
from acrn.models.resnet import ResNet, load_torchvision_resnet
from acrn.models.roi_sampler import ROISampler
from acrn.models.rpn import AnchorGenerator, RegionProposalNetwork, RPNHead
from acrn.models.slowfast import IdentityBlock, SlowFast, TemporalMean

log = logging.getLogger(__name__)

HEADS = ("none", "resize_concat", "santoro", "acrn", "acrn_tiled")
ACTORS = ("rpn", "file", "gt")


def build_actors(cfg: ModelConfig) -> nn.Module:
    """Where actor boxes come from: ResNet + RPN on the key frame, a proposals file, or ground truth."""
    if cfg.actors == "file":
        return FileActors()
    if cfg.actors == "gt":
        return GTActors()
    if cfg.actors != "rpn":
        raise ValueError(f"model.actors {cfg.actors!r}: expected one of {', '.join(ACTORS)}")
    r = cfg.rpn
    resnet = ResNet(r.resnet_depth, r.resnet_width, num_stages=3)
    if r.pretrained:
        ignored = load_torchvision_resnet(resnet, r.pretrained)
        log.info("actor ResNet-%d: loaded %s (%d keys unused)", r.resnet_depth, r.pretrained, len(ignored))
    if cfg.freeze_bn:
        resnet = freeze_bn(resnet)
    anchors = AnchorGenerator(tuple(r.anchor_sizes), tuple(r.aspect_ratios))
    rpn = RegionProposalNetwork(anchors, RPNHead(resnet.out_channels, anchors.num_anchors), resnet.stride,
                                (r.pre_nms_top_n_train, r.pre_nms_top_n_test),
                                (r.post_nms_top_n_train, r.post_nms_top_n_test), r.nms_thresh, r.min_size)
    return RPNActors(resnet, rpn)


def build_scene_maps(cfg: ModelConfig, channels: dict[str, int], num_frames: int) -> SceneMaps:
    """Relation feature maps (Table 1c) with their own temporal flattening for endpoints other than Mixed_4f."""
    flattens = {name: TemporalFlatten(channels[name], endpoint_shape(name, num_frames, 224, 224)[0])
                for name in cfg.relation_layers if name != "Mixed_4f"}
    return SceneMaps(cfg.relation_layers, cfg.relation_scales, flattens,
                     [channels[n] for n in cfg.relation_layers], cfg.relation_grad_mult)


def build_slowfast(cfg: ModelConfig) -> SlowFast:
    """The SlowFast backbone of ``cfg.slowfast`` (random init; MMAction2 weights come in through
    ``acrn weights import mmaction2``), BN frozen when ``cfg.freeze_bn``."""
    s = cfg.slowfast
    model = SlowFast(s.depth, s.tau, s.alpha, s.beta, s.base_channels, s.fusion_kernel)
    return freeze_bn(model) if cfg.freeze_bn else model


def freeze_backbone_before(backbone: nn.Module, endpoint: str) -> list[str]:
    """Stop training every backbone parameter of the endpoints before ``endpoint`` (S3D-G / I3D / frame2d
    layout; a SlowFast backbone is left as is). Returns the frozen parameter names."""
    from acrn.models.inception import ENDPOINTS

    if endpoint == ENDPOINTS[0] or endpoint not in ENDPOINTS:
        return []
    before = set(ENDPOINTS[:ENDPOINTS.index(endpoint)])
    frozen = []
    for name, p in backbone.named_parameters():
        if before & set(name.split(".")):
            p.requires_grad_(False)
            frozen.append(name)
    return frozen


def build_features(cfg: ModelConfig, num_frames: int) -> tuple[nn.Module, nn.Module]:
    """``(backbone, flatten)``: the video backbone and the time flattening that gives the 2D map F."""
    if cfg.backbone == "slowfast":
        return build_slowfast(cfg), TemporalMean()
    backbone = build_backbone(cfg)
    t4f = endpoint_shape("Mixed_4f", num_frames, 224, 224)[0]
    return backbone, TemporalFlatten(backbone.channels["Mixed_4f"], t4f)


def build_actor_block(cfg: ModelConfig, channels: dict[str, int]) -> nn.Module:
    """The per-actor block after the crop: Mixed_5b/5c, or nothing for SlowFast (all its stages ran already)."""
    if cfg.backbone == "slowfast":
        return IdentityBlock(channels["Mixed_4f"])
    return build_mixed5(cfg)


def build_head(cfg: ModelConfig, channels: dict[str, int]) -> nn.Module:
    """The Base-Model head, optionally wrapped by a relation head (sections 3.1, 3.2, 4.2), or MMAction2's
    simplified ACRN head (``acrn_tiled``)."""
    if cfg.head == "acrn_tiled":
        c = channels["Mixed_4f"]
        head = TiledACRNHead(c, cfg.tiled_channels or c, cfg.tiled_convs)
        return freeze_bn(head) if cfg.freeze_bn else head
    mixed5 = build_actor_block(cfg, channels)
    actor_head = ActorHead(mixed5)
    if cfg.head == "none":
        return actor_head
    scene_channels = [channels[n] for n in cfg.relation_layers]
    if cfg.head == "resize_concat":
        return ResizeConcatHead(actor_head, mixed5.in_channels, scene_channels)
    g_theta = PairwiseRelation(mixed5.out_channels, scene_channels, mixed5.in_channels, cfg.relation_coord_scale)
    if cfg.head == "santoro":
        return SantoroHead(actor_head, g_theta, mixed5.out_channels, cfg.relation_grad_mult)
    if cfg.head == "acrn":
        # f_phi: its own Mixed_5b/5c, initialised like the action head's (section 4.1), weights not shared.
        rn_mixed5 = build_actor_block(cfg, channels)
        rn_mixed5.load_state_dict(mixed5.state_dict())
        return ACRNHead(actor_head, g_theta, rn_mixed5, cfg.relation_grad_mult, cfg.relation_pool)
    raise ValueError(f"model.head {cfg.head!r}: expected one of {', '.join(HEADS)}")


def build_model(cfg: Config) -> tuple[ActionDetector, DetectionCriterion, PostProcess]:
    """The detector, its criterion and its post-processing from a validated :class:`Config`."""
    m = cfg.model
    backbone, flatten = build_features(m, cfg.data.num_frames)
    channels = dict(backbone.channels)
    head = build_head(m, channels)
    scene = build_scene_maps(m, channels, cfg.data.num_frames) if m.head != "none" else None
    num_logits = m.num_classes if m.multilabel else m.num_classes + 1
    predictor = Predictor(head.out_channels, num_logits, m.box_regression, m.dropout)
    positive_fraction = 1.0 if m.multilabel else m.roi_positive_fraction
    sampler = ROISampler(m.rois_per_clip, m.roi_fg_iou, positive_fraction,
                         add_gt=m.add_gt_to_proposals and m.actors != "gt")
    model = ActionDetector(backbone, flatten, build_actors(m), scene, head, predictor, sampler,
                           spatial_scale=1.0 / backbone.strides["Mixed_4f"][1], roi_size=m.roi_size,
                           sampling_ratio=m.roi_sampling_ratio, multilabel=m.multilabel)
    rpn = {"fg_iou": m.rpn.fg_iou, "bg_iou": m.rpn.bg_iou, "batch_per_image": m.rpn.batch_per_image,
           "positive_fraction": m.rpn.positive_fraction}
    freeze_backbone_before(backbone, m.trainable_from)
    if m.init_from:  # pretrained detector (section 4.1): after the seeded init, so new layers keep theirs
        from acrn.config import to_dict
        from acrn.models.finetune import load_pretrained_detector

        plain = to_dict(cfg)
        model.init_report = load_pretrained_detector(model, m.init_from, plain["model"], plain["data"])
        log.info("%s", model.init_report.summary())
    criterion = DetectionCriterion(m.num_classes, m.multilabel, rpn)
    postprocess = PostProcess(m.multilabel, m.score_thresh, m.detections_per_frame, m.detection_nms)
    return model, criterion, postprocess
