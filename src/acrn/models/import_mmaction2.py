"""Import MMAction2's ACRN AVA detectors (SlowFast-R50 + ``ACRNHead`` + ``BBoxHeadAVA``) as acrn checkpoints.

``convert_mmaction2(src, out)`` reads an mmengine ``.pth`` (``{"meta": ..., "state_dict": ...}``), reads the
architecture off the tensor shapes (widths, depth, lateral kernel, relation channels, classes), builds the
matching acrn config (:func:`mmaction2_config`, the same as ``configs/ava_v21_mmaction2_acrn.yaml``),
renames every tensor onto that model and writes an acrn checkpoint with the AVA label map in ``extra``.

Key mapping (MMAction2 -> acrn, ``{p}`` = ``slow``/``fast``)::

    backbone.{p}_path.conv1.{conv,bn}.*               backbone.{p}.stem.{conv,bn}.*
    backbone.{p}_path.layerN.B.*                      backbone.{p}.layerN.B.*   (conv1/2/3, downsample)
    backbone.slow_path.conv1_lateral.conv.weight      backbone.lateral.0.weight
    backbone.slow_path.layerN_lateral.conv.weight     backbone.lateral.N.weight
    roi_head.shared_head.conv1.{conv,bn}.*            head.fuse.{conv,bn}.*
    roi_head.shared_head.conv2.* / convs.J.*          head.convs.0.* / head.convs.{J+1}.*
    roi_head.bbox_head.fc_cls.{weight,bias}[1:]       predictor.cls_score.{weight,bias}  (row 0: background)

BatchNorm step counters (``num_batches_tracked``) are dropped: acrn's frozen BN keeps none. Reading is safe:
``torch.load(weights_only=True)``; the few non-tensor classes mmengine pickles into ``meta`` (its
``HistoryBuffer``, numpy scalars) are read as inert placeholders, and any other global (a pickle that would
run code) is refused. Memory: the source is memory-mapped and renamed without copies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from acrn.config import Config, apply_overrides, to_dict, validate
from acrn.errors import InputError
from acrn.eval.labelmap import AVA_V21_60_CLASS_IDS
from acrn.models.ava_actions import AVA_ACTION_IDS, AVA_ACTION_NAMES
from acrn.models.mmaction_acrn import MMACTION2_CONFIGS
from acrn.models.slowfast import STAGE_BLOCKS

# mmengine/numpy globals that may appear in a checkpoint's ``meta``; read as placeholders, never called.
_INERT_PREFIXES = ("mmengine.", "numpy.", "collections.OrderedDict", "builtins.set", "datetime.")
_STEM = re.compile(r"^backbone\.(slow|fast)_path\.conv1\.(conv|bn)\.(.+)$")
_LAYER = re.compile(r"^backbone\.(slow|fast)_path\.(layer\d)\.(.+)$")
_LATERAL = re.compile(r"^backbone\.slow_path\.(?:conv1|layer(\d))_lateral\.conv\.weight$")
_SHARED = re.compile(r"^roi_head\.shared_head\.(conv1|conv2|convs\.(\d+))\.(conv|bn)\.(.+)$")
_FC = re.compile(r"^roi_head\.bbox_head\.fc_cls\.(weight|bias)$")


class _Inert:
    """Placeholder for a non-tensor object in a checkpoint's metadata: keeps its arguments, runs nothing."""

    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state) -> None:
        self.state = state


@dataclass
class ImportResult:
    """What :func:`convert_mmaction2` did: the acrn config, the tensors loaded and those dropped, by name."""

    config: Config
    loaded: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)  # source key -> why
    architecture: dict = field(default_factory=dict)
    out: str = ""

    def summary(self) -> str:
        a = self.architecture
        return (f"MMAction2 ACRN (SlowFast-R{a['depth']}, {a['num_classes']} classes): {len(self.loaded)} tensors "
                f"mapped, {len(self.dropped)} dropped ({', '.join(sorted(set(self.dropped.values())))})")


def read_mmaction2_state(path: str | Path) -> dict[str, Tensor]:
    """The ``state_dict`` of an mmengine checkpoint, read safely (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found")
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception as e:  # truncated / not a torch zip file
        raise InputError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupted?): "
                         f"{_first_line(e)}") from None
    unsafe = [n for n in names if not n.startswith(_INERT_PREFIXES)]
    if unsafe:
        raise InputError(f"{path}: refused: the pickle references {', '.join(unsafe[:3])} (it could run code); "
                         f"only tensors and plain metadata are read")
    try:
        with torch.serialization.safe_globals([(_Inert, n) for n in names]):
            payload = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:
        raise InputError(f"{path}: not a readable PyTorch checkpoint: {_first_line(e)}") from None
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(v, Tensor) for v in state.values()):
        raise InputError(f"{path}: no state_dict of tensors in this file (expected an MMAction2 checkpoint)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:200]


def _shape(state: dict[str, Tensor], key: str, path: str) -> torch.Size:
    if key not in state:
        raise InputError(f"{path}: missing key {key!r}")
    return state[key].shape


def infer_architecture(state: dict[str, Tensor], path: str = "<state>") -> dict:
    """Depth, widths, lateral kernel, relation channels/convs and classes from the tensor shapes.

    Raises :class:`InputError` for a checkpoint of another architecture, naming what is missing."""
    keys = set(state)
    if not any(k.startswith("backbone.slow_path.") for k in keys):
        other = "an mmdet detector" if any(k.startswith(("rpn_head.", "neck.")) for k in keys) else "another model"
        raise InputError(f"{path}: not an MMAction2 SlowFast ACRN checkpoint (no backbone.slow_path.*; looks like "
                         f"{other})")
    if not any(k.startswith("roi_head.shared_head.conv1.") for k in keys):
        raise InputError(f"{path}: not an MMAction2 ACRN detector: no roi_head.shared_head.conv1 (a SlowFast "
                         f"classifier or a detector without the ACRN head?)")
    blocks = tuple(len({k.split(".")[3] for k in keys if k.startswith(f"backbone.slow_path.layer{i}.")})
                   for i in range(1, 5))
    depth = next((d for d, b in STAGE_BLOCKS.items() if b == blocks), None)
    if depth is None:
        raise InputError(f"{path}: slow pathway has {blocks} blocks per stage; supported: "
                         + ", ".join(f"R{d} {b}" for d, b in STAGE_BLOCKS.items()))
    slow_stem = _shape(state, "backbone.slow_path.conv1.conv.weight", path)
    fast_stem = _shape(state, "backbone.fast_path.conv1.conv.weight", path)
    lateral = _shape(state, "backbone.slow_path.conv1_lateral.conv.weight", path)
    fuse = _shape(state, "roi_head.shared_head.conv1.conv.weight", path)
    fc = _shape(state, "roi_head.bbox_head.fc_cls.weight", path)
    convs = 1 + len({k.split(".")[3] for k in keys if k.startswith("roi_head.shared_head.convs.")})
    base, fast_base = slow_stem[0], fast_stem[0]
    if fast_base == 0 or base % fast_base:
        raise InputError(f"{path}: fast stem width {fast_base} does not divide slow stem width {base}")
    return {"depth": depth, "base_channels": int(base), "beta": int(base // fast_base),
            "fusion_kernel": int(lateral[2]), "tiled_channels": int(fuse[0]), "tiled_convs": convs,
            "num_classes": int(fc[0]) - 1}


def mmaction2_config(arch: dict | None = None, variant: str = "ava21") -> Config:
    """The acrn config of MMAction2's ACRN AVA model (``configs/ava_v21_mmaction2_acrn.yaml``), with the
    widths of ``arch`` (:func:`infer_architecture`; ``None`` = the published SlowFast-R50)."""
    a = {"depth": 50, "base_channels": 64, "beta": 8, "fusion_kernel": 7, "tiled_channels": 2304,
         "tiled_convs": 1, "num_classes": 80, **(arch or {})}
    cfg = Config()
    apply_overrides(cfg, [
        f"model.num_classes={a['num_classes']}", "model.multilabel=true", "model.backbone=slowfast",
        "model.modality=rgb", "model.freeze_bn=true", "model.head=acrn_tiled",
        f"model.tiled_channels={a['tiled_channels']}", f"model.tiled_convs={a['tiled_convs']}",
        "model.relation_layers=[Mixed_4f]", "model.relation_scales=[1.0]", "model.relation_grad_mult=1.0",
        "model.roi_size=8", "model.roi_sampling_ratio=0", "model.rois_per_clip=32", "model.roi_fg_iou=0.9",
        "model.dropout=0.5", "model.box_regression=false", "model.actors=file", "model.score_thresh=0.002",
        f"model.slowfast.depth={a['depth']}", "model.slowfast.tau=4", "model.slowfast.alpha=4",
        f"model.slowfast.beta={a['beta']}", f"model.slowfast.base_channels={a['base_channels']}",
        f"model.slowfast.fusion_kernel={a['fusion_kernel']}",
        "data.dataset=ava", "data.num_frames=32", "data.sample_rate=2", "data.test_short_side=256",
        "data.train_short_side=[256, 320]", "data.train_crop=256",
        "data.mean=[0.485, 0.456, 0.406]", "data.std=[0.229, 0.224, 0.225]",  # 123.675/255, ... (RGB)
        f"runtime.out_dir=runs/mmaction2_acrn_{variant}",
        "runtime.channels_last=true",  # CPU inference 1.1-1.2x faster (benchmarks/bench_mmaction2.py)
    ])
    validate(cfg)
    return cfg


def target_key(src: str) -> str | None:
    """The acrn key of an MMAction2 key, or ``None`` when it has no counterpart."""
    if src.endswith("num_batches_tracked"):
        return None
    if m := _STEM.match(src):
        return f"backbone.{m[1]}.stem.{m[2]}.{m[3]}"
    if m := _LATERAL.match(src):
        return f"backbone.lateral.{m[1] or 0}.weight"
    if m := _LAYER.match(src):
        return f"backbone.{m[1]}.{m[2]}.{m[3]}"
    if m := _SHARED.match(src):
        index = 0 if m[1] == "conv2" else (int(m[2]) + 1 if m[2] is not None else None)
        return f"head.fuse.{m[3]}.{m[4]}" if index is None else f"head.convs.{index}.{m[3]}.{m[4]}"
    if m := _FC.match(src):
        return f"predictor.cls_score.{m[1]}"
    return None


def map_state(state: dict[str, Tensor], target: dict[str, torch.Size], path: str = "<state>"
              ) -> tuple[dict[str, Tensor], list[str], dict[str, str]]:
    """Rename ``state`` onto ``target`` (acrn key -> shape): ``(tensors, loaded source keys, dropped)``.

    Raises :class:`InputError` naming the first unexpected, missing or mis-shaped key (with both shapes)."""
    out, loaded, dropped = {}, [], {}
    for src, value in state.items():
        key = target_key(src)
        if key is None and src.endswith("num_batches_tracked"):
            dropped[src] = "BN step counter"
            continue
        if key is None or key not in target:
            raise InputError(f"{path}: unexpected key {src!r} {tuple(value.shape)} (not part of MMAction2's "
                             f"ACRN AVA model)")
        if key.startswith("predictor.cls_score."):
            value = value[1:].clone()  # row 0: BBoxHeadAVA's background logit, never trained or reported
        if value.shape != target[key]:
            raise InputError(f"{path}: {src!r} has shape {tuple(value.shape)}, expected {tuple(target[key])}")
        out[key] = value.float() if value.is_floating_point() else value
        loaded.append(src)
    missing = [k for k in target if k not in out]
    if missing:
        raise InputError(f"{path}: missing {len(missing)} tensors, e.g. {_source_name(missing[0])!r} "
                         f"(expected shape {tuple(target[missing[0]])})")
    return out, loaded, dropped


def _source_name(key: str) -> str:
    """Best-effort MMAction2 name of an acrn key, for error messages."""
    rules = [(r"^backbone\.(slow|fast)\.stem\.", r"backbone.\1_path.conv1."),
             (r"^backbone\.lateral\.0\.weight$", "backbone.slow_path.conv1_lateral.conv.weight"),
             (r"^backbone\.lateral\.(\d)\.weight$", r"backbone.slow_path.layer\1_lateral.conv.weight"),
             (r"^backbone\.(slow|fast)\.", r"backbone.\1_path."), (r"^head\.fuse\.", "roi_head.shared_head.conv1."),
             (r"^head\.convs\.0\.", "roi_head.shared_head.conv2."),
             (r"^predictor\.cls_score\.", "roi_head.bbox_head.fc_cls.")]
    for pattern, repl in rules:
        if re.match(pattern, key):
            return re.sub(pattern, repl, key)
    return key


def target_shapes(cfg: Config) -> dict[str, torch.Size]:
    """Key -> shape of the acrn model of ``cfg``, built on the meta device (no memory, no init cost)."""
    from acrn.models.build import build_model

    with torch.device("meta"):
        model, _, _ = build_model(cfg)
    return {k: v.shape for k, v in model.state_dict().items()}


def convert_mmaction2(src: str | Path, out: str | Path, variant: str = "ava21") -> ImportResult:
    """Convert an MMAction2 ACRN AVA checkpoint into an acrn checkpoint at ``out`` (nothing written on error)."""
    from acrn.engine.checkpoint import digest, make_checkpoint, save_checkpoint

    if variant not in MMACTION2_CONFIGS:
        raise InputError(f"variant {variant!r}: expected one of {', '.join(MMACTION2_CONFIGS)}")
    state = read_mmaction2_state(src)
    arch = infer_architecture(state, str(src))
    cfg = mmaction2_config(arch, variant)
    tensors, loaded, dropped = map_state(state, target_shapes(cfg), str(src))
    names = list(AVA_ACTION_NAMES) if arch["num_classes"] == len(AVA_ACTION_IDS) else None
    ids = list(AVA_ACTION_IDS) if names else list(range(1, arch["num_classes"] + 1))
    extra = {"class_ids": ids, "class_names": names or [f"class {i}" for i in ids],
             "eval_class_ids": list(AVA_V21_60_CLASS_IDS) if names else ids,  # ActivityNet's 60 of the 80
             "source": {"format": "mmaction2", "file": Path(src).name, "config": MMACTION2_CONFIGS[variant],
                        "dropped": sorted(dropped)}}
    payload = make_checkpoint(step=0, model_state=tensors, config=to_dict(cfg), extra=extra)
    save_checkpoint(out, payload, verify=False)
    del payload, tensors, state
    # Verify what was written without holding a second copy in memory (the file is memory-mapped).
    back = torch.load(str(out), map_location="cpu", weights_only=True, mmap=True)
    if back.get("digest") != digest(back):
        Path(out).unlink(missing_ok=True)
        raise InputError(f"{out}: written checkpoint does not verify (disk full?); removed")
    return ImportResult(cfg, loaded, dropped, arch, str(out))
