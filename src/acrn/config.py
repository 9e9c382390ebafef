"""Typed configuration: dataclasses with defaults, YAML files, ``--set a.b=c`` overrides.

Every field is declared with :func:`opt`, which carries a one-line help text and the allowed values
(``choices``, ``low``/``high`` bounds, ``each`` for the elements of a list). Loading validates every
key, so an unknown key, a bad type or a bad value fails with a :class:`ConfigError` that names the
key, the value and what is allowed. Only ``build_*`` functions and the CLI read a config; modules
take typed constructor arguments.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from acrn.errors import AcrnError


class ConfigError(AcrnError, ValueError):
    """A config key, type or value is not allowed; the message names the key and what is allowed."""


def opt(default: Any, help: str, *, choices: tuple | None = None, low: float | None = None,
        high: float | None = None, each: tuple | None = None) -> Any:
    """A config field: ``default``, a one-line ``help`` and its allowed values.

    ``choices``: the allowed values; ``low``/``high``: inclusive numeric bounds; ``each``: allowed
    values for every element of a list field.
    """
    meta = {"help": help, "choices": choices, "low": low, "high": high, "each": each}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


RELATION_LAYERS = ("Conv2d_1a_7x7", "Conv2d_2c_3x3", "Mixed_3b", "Mixed_3c", "Mixed_4b", "Mixed_4f")
S3DG_ENDPOINTS = ("Conv2d_2c_3x3", "Mixed_3b", "Mixed_3c", "Mixed_4b", "Mixed_4c", "Mixed_4d",
                  "Mixed_4e", "Mixed_4f", "Mixed_5b", "Mixed_5c")


@dataclass
class RPNConfig:
    """Actor localisation on the key frame: 2D ResNet + Faster R-CNN RPN (paper section 3.1)."""

    resnet_depth: int = opt(50, "ResNet depth of the key-frame actor network", choices=(18, 34, 50))
    resnet_width: float = opt(1.0, "ResNet channel width multiplier", low=0.0625, high=4.0)
    anchor_sizes: list = opt([32, 64, 128, 256, 512], "anchor box sizes in input pixels")
    aspect_ratios: list = opt([0.5, 1.0, 2.0], "anchor aspect ratios (height / width)")
    fg_iou: float = opt(0.7, "anchors with IoU >= this are positive", low=0.0, high=1.0)
    bg_iou: float = opt(0.3, "anchors with IoU < this are negative", low=0.0, high=1.0)
    batch_per_image: int = opt(256, "anchors sampled per image for the RPN loss", low=1)
    positive_fraction: float = opt(0.5, "at most this fraction of sampled anchors are positive",
                                   low=0.0, high=1.0)
    pre_nms_top_n_train: int = opt(2000, "proposals kept before NMS in training", low=1)
    post_nms_top_n_train: int = opt(300, "proposals kept after NMS in training", low=1)
    pre_nms_top_n_test: int = opt(1000, "proposals kept before NMS at test time", low=1)
    post_nms_top_n_test: int = opt(100, "proposals kept after NMS at test time", low=1)
    nms_thresh: float = opt(0.7, "IoU threshold of the proposal NMS", low=0.0, high=1.0)
    min_size: float = opt(1e-3, "proposals smaller than this (pixels) are removed", low=0.0)
    pretrained: str = opt("", "torchvision ResNet-50 ImageNet checkpoint to initialise from ('' = none)")


@dataclass
class SlowFastConfig:
    """SlowFast ResNet-3D backbone (``model.backbone: slowfast``); defaults are MMAction2's AVA SlowFast-R50 8x8."""

    depth: int = opt(50, "ResNet depth of both pathways", choices=(50, 101, 152))
    tau: int = opt(4, "temporal stride of the slow pathway on the clip frames (MMAction2 resample_rate)", low=1)
    alpha: int = opt(4, "frame-rate ratio fast / slow (MMAction2 speed_ratio)", low=1)
    beta: int = opt(8, "channel ratio slow / fast (MMAction2 channel_ratio)", low=1)
    base_channels: int = opt(64, "slow stem channels (the fast stem has base_channels / beta)", low=1)
    fusion_kernel: int = opt(7, "temporal kernel of the lateral fast-to-slow convs", choices=(1, 3, 5, 7))


@dataclass
class ModelConfig:
    """The action detector (paper sections 3.1, 3.2)."""

    num_classes: int = opt(10, "number of action classes (without background)", low=1)
    multilabel: bool = opt(True, "sigmoid multi-label (AVA) or softmax with background (JHMDB)")
    backbone: str = opt("s3dg", "classification backbone", choices=("s3dg", "i3d", "frame2d", "slowfast"))
    modality: str = opt("rgb", "input stream(s)", choices=("rgb", "flow", "two_stream"))
    fusion: str = opt("sum", "two-stream fusion at Mixed_4f", choices=("sum", "concat"))
    width: float = opt(1.0, "channel width multiplier of the backbone", low=0.0625, high=4.0)
    min_depth: int = opt(16, "minimum channels of any conv after the width multiplier", low=1)
    first_temporal_kernel: int = opt(1, "temporal kernel of Conv2d_1a_7x7", choices=(1, 3, 5, 7))
    temporal_conv_startat: str = opt("Mixed_4b", "first endpoint with separable 3D convs",
                                     choices=S3DG_ENDPOINTS)
    gating_startat: str = opt("Mixed_4b", "first endpoint with self-gating", choices=S3DG_ENDPOINTS)
    bn_eps: float = opt(1e-3, "BatchNorm epsilon", low=0.0)
    bn_momentum: float = opt(0.001, "BatchNorm running-stat momentum (PyTorch convention)",
                             low=0.0, high=1.0)
    freeze_bn: bool = opt(True, "keep BatchNorm statistics and affine frozen (section 4.1)")
    head: str = opt("acrn", "relation head (acrn_tiled: MMAction2's simplified ACRN head)",
                    choices=("none", "resize_concat", "santoro", "acrn", "acrn_tiled"))
    tiled_channels: int = opt(0, "acrn_tiled: relation map channels (0 = the feature map's)", low=0)
    tiled_convs: int = opt(1, "acrn_tiled: number of 1x3x3 convs after the 1x1 fusion", low=1)
    relation_layers: list = opt(["Mixed_4f"], "feature maps the relation head reads (Table 1c)",
                                each=RELATION_LAYERS)
    relation_scales: list = opt([1.0], "scale of each relation map (one per layer, or one for all)",
                                each=(0.5, 1.0))
    relation_pool: str = opt("mean", "ACRN: pooling of f_phi's relation map into f_RN (section 3.2: average)",
                             choices=("mean", "max"))
    relation_coord_scale: float = opt(1.0, "ACRN/Santoro: factor on b_i and l(j, k) in g_theta's input (1 = the "
                                      "paper: raw [0, 1] coordinates; a probe of issue #17)", low=0.0)
    relation_grad_mult: float = opt(0.01, "gradient multiplier from the relation head into the "
                                    "backbone maps (section 4.1)", low=0.0)
    roi_size: int = opt(7, "ROI crop size on the flattened Mixed_4f map", low=1)
    roi_sampling_ratio: int = opt(2, "ROI align sampling ratio (0 = adaptive)", low=0)
    rois_per_clip: int = opt(64, "ROIs sampled per clip for the classifier in training", low=1)
    roi_fg_iou: float = opt(0.5, "a proposal with IoU >= this to a GT actor takes its labels",
                            low=0.0, high=1.0)
    roi_positive_fraction: float = opt(0.25, "at most this fraction of sampled ROIs are positive "
                                       "(softmax heads)", low=0.0, high=1.0)
    add_gt_to_proposals: bool = opt(True, "add ground-truth boxes to the proposals in training")
    dropout: float = opt(0.0, "dropout before the classifier", low=0.0, high=1.0)
    box_regression: bool = opt(True, "learn per-actor box refinements")
    actors: str = opt("rpn", "where actor boxes come from", choices=("rpn", "file", "gt"))
    score_thresh: float = opt(0.05, "post-processing: drop actors whose best score is below this",
                              low=0.0, high=1.0)
    detections_per_frame: int = opt(20, "post-processing: keep at most this many actors", low=1)
    detection_nms: float = opt(0.5, "post-processing: NMS over actor boxes", low=0.0, high=1.0)
    pretrained: str = opt("", "backbone checkpoint to import ('' = random init)")
    pretrained_format: str = opt("auto", "format of the backbone checkpoint",
                                 choices=("auto", "torchvision_s3d", "kylemin_s3d", "howto100m_s3dg",
                                          "tfslim_npz", "acrn"))
    trainable_from: str = opt("Conv2d_1a_7x7", "first backbone endpoint whose weights train; earlier ones keep "
                              "their (pretrained) weights, as torchvision's trainable_backbone_layers",
                              choices=("Conv2d_1a_7x7", "Conv2d_2b_1x1", "Conv2d_2c_3x3", "Mixed_3b", "Mixed_3c",
                                       "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"))
    init_from: str = opt("", "acrn Base-Model checkpoint to start the backbone, flattening and every Mixed_5b/5c "
                              "from (pretrain, then fine-tune: section 4.1); '' = none")
    rpn: RPNConfig = field(default_factory=RPNConfig)
    slowfast: SlowFastConfig = field(default_factory=SlowFastConfig)


@dataclass
class DataConfig:
    """Datasets, clip sampling and transforms (data/)."""

    dataset: str = opt("synthetic", "dataset layout",
                       choices=("synthetic", "ava", "jhmdb", "ucf24", "custom"))
    root: str = opt("data/synth-demo", "dataset root folder")
    frames: str = opt("auto", "read frames from", choices=("auto", "video", "folder"))
    split: int = opt(1, "JHMDB split (1-3); UCF101-24 has one", low=1, high=3)
    train_csv: str = opt("", "AVA-format training annotations ('' = the dataset default)")
    val_csv: str = opt("", "AVA-format validation annotations ('' = the dataset default)")
    labelmap: str = opt("", "label map pbtxt ('' = the dataset default)")
    exclusions: str = opt("", "excluded timestamps CSV ('' = the dataset default or none)")
    proposals: str = opt("", "person proposals file (CSV or pickle) for actors='file'")
    num_frames: int = opt(20, "frames per clip (T)", low=1)
    sample_rate: int = opt(1, "temporal stride between clip frames (r)", low=1)
    train_short_side: list = opt([256, 320], "training short-side scale jitter range [min, max]")
    train_crop: int = opt(224, "training crop size (0 = no crop)", low=0)
    flip: bool = opt(True, "random horizontal flip in training (boxes flipped too)")
    test_short_side: int = opt(256, "test-time short-side resize", low=16)
    mean: list = opt([0.45, 0.45, 0.45], "per-channel mean of RGB in [0, 1]")
    std: list = opt([0.225, 0.225, 0.225], "per-channel std of RGB in [0, 1]")
    flow: str = opt("none", "flow source for the flow stream", choices=("none", "cache", "online"))
    flow_method: str = opt("dis", "optical flow algorithm", choices=("dis", "tvl1", "farneback"))
    flow_dir: str = opt("", "flow cache folder ('' = <root>/flow)")
    num_workers: int = opt(2, "DataLoader worker processes", low=0)
    skip_bad: bool = opt(False, "warn and skip unreadable samples instead of failing")
    crop_only: bool = opt(False, "control (issue #17): blank every pixel outside the key frame's annotated and "
                                 "proposed boxes, in every frame")


@dataclass
class SolverConfig:
    """Optimisation (section 4.1: SGD, linear warm-up then cosine decay)."""

    batch_size: int = opt(8, "clips per step (global, across all ranks)", low=1)
    max_steps: int = opt(1000, "training steps", low=1)
    base_lr: float = opt(1e-3, "learning rate after warm-up", low=0.0)
    warmup_start_lr: float = opt(1e-5, "learning rate at step 0", low=0.0)
    warmup_steps: int = opt(200, "linear warm-up steps", low=0)
    schedule: str = opt("cosine", "decay after warm-up", choices=("cosine", "constant", "step"))
    final_lr: float = opt(0.0, "learning rate at the last step (cosine)", low=0.0)
    momentum: float = opt(0.9, "SGD momentum", low=0.0, high=1.0)
    weight_decay: float = opt(1e-5, "L2 weight decay", low=0.0)
    clip_grad: float = opt(0.0, "clip the gradient norm to this (0 = off)", low=0.0)
    optimizer: str = opt("sgd", "optimiser", choices=("sgd", "adamw"))
    relation_lr_mult: float = opt(1.0, "learning-rate multiplier of the relation head's own layers (g_theta, "
                                  "f_phi, the Resize+Concat fusion)", low=0.0)


@dataclass
class EvalConfig:
    """Evaluation (eval/): protocols and thresholds."""

    protocol: str = opt("2018", "AVA evaluator revision", choices=("2018", "2019", "2020"))
    iou: float = opt(0.5, "frame-AP IoU threshold", low=0.0, high=1.0)
    video_iou: list = opt([0.2, 0.5, 0.75], "video-AP spatio-temporal IoU thresholds")
    every: int = opt(0, "evaluate every N training steps (0 = only at the end)", low=0)
    link_tubes: bool = opt(True, "link frame detections into tubes for video-AP")
    max_eval_clips: int = opt(0, "evaluate at most this many clips (0 = all)", low=0)


@dataclass
class RuntimeConfig:
    """Where and how a run executes."""

    device: str = opt("auto", "device", choices=("auto", "cpu", "cuda"))
    seed: int = opt(0, "random seed", low=0)
    out_dir: str = opt("runs/default", "folder for checkpoints, logs and results")
    threads: int = opt(0, "torch CPU threads (0 = leave torch's default)", low=0)
    amp: bool = opt(True, "bf16 autocast on GPU (ignored on CPU)")
    channels_last: bool = opt(False, "channels_last_3d memory format for the backbone")
    compile: bool = opt(False, "torch.compile the model for inference")
    cpu_bf16: bool = opt(False, "bf16 autocast for CPU inference (AMX CPUs: SlowFast ACRN ~2.6x faster; scores "
                                "move by ~1e-2)")
    log_every: int = opt(10, "log scalars every N steps", low=1)
    ckpt_every: int = opt(200, "checkpoint every N steps", low=1)
    tensorboard: bool = opt(True, "write TensorBoard scalars and heatmap images")
    progress: bool = opt(True, "show progress bars")


@dataclass
class Config:
    """A whole run: model, data, solver, eval, runtime."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)


# ---------------------------------------------------------------------------------------------
# Loading, overriding, validating


def _type_of(cls: type, name: str) -> Any:
    return typing.get_type_hints(cls)[name]


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(key: str, value: Any, tp: Any, f: dataclasses.Field) -> Any:
    """Check ``value`` against the field's type and allowed values; return the coerced value."""
    meta = f.metadata
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        value = float(value)
    elif tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
    elif tp is list or typing.get_origin(tp) is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        value = list(value)
        each = meta.get("each")
        if each is not None:
            for v in value:
                if v not in each:
                    raise ConfigError(f"{key}: element {v!r} is not allowed; allowed: "
                                      + ", ".join(map(str, each)))
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{key}: {value!r} is not allowed; allowed: " + ", ".join(map(str, choices)))
    low, high = meta.get("low"), meta.get("high")
    if low is not None and value < low:
        raise ConfigError(f"{key}: {value!r} is below the minimum {low}")
    if high is not None and value > high:
        raise ConfigError(f"{key}: {value!r} is above the maximum {high}")
    return value


def _merge(obj: Any, data: dict, prefix: str) -> None:
    """Write the nested mapping ``data`` into the dataclass ``obj``, validating every key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(obj)}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in fields:
            raise ConfigError(f"unknown key {key!r}; allowed keys here: " + ", ".join(fields))
        f = fields[name]
        tp = _type_of(type(obj), name)
        if dataclasses.is_dataclass(tp):
            _merge(getattr(obj, name), value, key)
        else:
            setattr(obj, name, _coerce(key, value, tp, f))


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b=c`` into the key path and a YAML-parsed value (``c`` may be ``[1, 2]``, ``true``)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected KEY=VALUE, e.g. model.head=acrn")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({e.__class__.__name__})") from None
    # YAML reads 1e-3 as a string; accept scientific notation for numbers.
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in "eE.") and value[0] in "+-.0123456789" \
                else value
        except ValueError:
            pass
    return key.strip().split("."), value


def apply_overrides(cfg: Config, overrides: list[str] | tuple[str, ...]) -> Config:
    """Apply ``a.b=c`` overrides in order (validated like YAML keys)."""
    for text in overrides:
        path, value = parse_override(text)
        nested: Any = value
        for part in reversed(path):
            nested = {part: nested}
        _merge(cfg, nested, "")
    return cfg


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults, then the YAML file (if any), then ``--set`` overrides; everything validated."""
    cfg = Config()
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML: {e}") from None
        try:
            _merge(cfg, data, "")
        except ConfigError as e:
            raise ConfigError(f"{p}: {e}") from None
    apply_overrides(cfg, overrides)
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    """Cross-field checks that one field alone cannot express."""
    m = cfg.model
    if len(m.relation_scales) not in (1, len(m.relation_layers)):
        raise ConfigError(f"model.relation_scales: {m.relation_scales} must have one value or one per "
                          f"layer in model.relation_layers ({len(m.relation_layers)})")
    if not m.relation_layers:
        raise ConfigError("model.relation_layers: needs at least one layer")
    if m.rpn.bg_iou > m.rpn.fg_iou:
        raise ConfigError(f"model.rpn.bg_iou: {m.rpn.bg_iou} must not exceed model.rpn.fg_iou "
                          f"({m.rpn.fg_iou})")
    if (m.backbone == "slowfast" or m.head == "acrn_tiled") and m.relation_layers != ["Mixed_4f"]:
        raise ConfigError(f"model.relation_layers: {m.relation_layers}; backbone {m.backbone!r} with head "
                          f"{m.head!r} reads only the detector's feature map: use [Mixed_4f]")
    if m.backbone == "slowfast":
        if m.modality != "rgb":
            raise ConfigError(f"model.modality: {m.modality!r}; the slowfast backbone reads rgb only")
        if m.slowfast.tau % m.slowfast.alpha or m.slowfast.base_channels % m.slowfast.beta:
            raise ConfigError(f"model.slowfast: tau ({m.slowfast.tau}) must be a multiple of alpha "
                              f"({m.slowfast.alpha}) and base_channels ({m.slowfast.base_channels}) of beta "
                              f"({m.slowfast.beta})")
    lo_hi = cfg.data.train_short_side
    if len(lo_hi) != 2 or not all(isinstance(v, int) for v in lo_hi) or lo_hi[0] > lo_hi[1]:
        raise ConfigError(f"data.train_short_side: {lo_hi} must be [min, max] integers with min <= max")
    if cfg.solver.warmup_steps > cfg.solver.max_steps:
        raise ConfigError(f"solver.warmup_steps: {cfg.solver.warmup_steps} exceeds solver.max_steps "
                          f"({cfg.solver.max_steps})")


def to_dict(cfg: Any) -> dict:
    """The config as plain nested dicts (for YAML, checkpoints and logs)."""
    return dataclasses.asdict(cfg)


def changed_values(cfg: Config) -> dict:
    """The values of ``cfg`` that differ from the defaults, as nested dicts: an identity of a run that a
    field added later (with its default) does not change."""
    def diff(ours: dict, base: dict) -> dict:
        out = {}
        for k, v in ours.items():
            if isinstance(v, dict):
                sub = diff(v, base.get(k, {}))
                if sub:
                    out[k] = sub
            elif k not in base or base[k] != v:
                out[k] = v
        return out

    return diff(to_dict(cfg), to_dict(Config()))


def from_dict(data: dict) -> Config:
    """Rebuild a validated config from :func:`to_dict` output (e.g. stored in a checkpoint)."""
    cfg = Config()
    _merge(cfg, data, "")
    validate(cfg)
    return cfg


def _yaml_scalar(value: Any) -> str:
    """One value as inline YAML (``[1, 2]``, ``true``, ``'x'``)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("...").strip()


def dump_yaml(cfg: Config, comments: bool = True) -> str:
    """YAML text of the resolved config, each value followed by its one-line help."""
    lines: list[str] = []

    def walk(obj: Any, indent: int) -> None:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            pad = "  " * indent
            if dataclasses.is_dataclass(value):
                lines.append(f"{pad}{f.name}:")
                walk(value, indent + 1)
                continue
            text = _yaml_scalar(value)
            note = f"  # {f.metadata['help']}" if comments and f.metadata.get("help") else ""
            lines.append(f"{pad}{f.name}: {text}{note}")

    walk(cfg, 0)
    return "\n".join(lines) + "\n"


__all__ = ["Config", "ConfigError", "DataConfig", "EvalConfig", "ModelConfig", "RPNConfig",
           "RuntimeConfig", "SlowFastConfig", "SolverConfig", "apply_overrides", "dump_yaml", "from_dict",
           "load_config", "to_dict", "validate"]
