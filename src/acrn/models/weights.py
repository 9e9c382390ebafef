"""Importers for public checkpoints (spec ``specs/s3dg.md`` section 2, key dumps in ``checkpoint-keys/``).

Each importer renames a checkpoint's tensors into our key space (``Conv2d_1a_7x7.conv.weight``,
``Mixed_4f.b1b.conv_t.weight``, ``Mixed_4f.g1.fc.bias``; see :mod:`acrn.models.inception`) and then
:func:`load_mapped` copies every tensor whose key the target module has. Nothing is silent: the returned
:class:`ImportReport` lists every loaded, missing, unused and adapted key; a shape that does not fit is
refused with an :class:`~acrn.errors.InputError` naming both keys and both shapes. Self-gates that the
checkpoint lacks start near identity (``W = 0``, ``b = +5``: ``sigmoid = 0.993``) so the imported function
is preserved (spec 1.6). Files are read with ``torch.load(weights_only=True)`` or ``np.load(allow_pickle=False)``.

Supported: torchvision ``s3d`` (Kinetics-400), kylemin/S3D, S3D_HowTo100M (MIL-NCE S3D-G), TF-slim
``s3dg`` variables saved as ``.npz``, our own state dicts ("acrn"), and torchvision ResNet-50 /
Faster R-CNN ``backbone.body`` for the actor network (:func:`import_torchvision_resnet50`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from acrn.errors import InputError
from acrn.models.inception import ENDPOINTS

GATE_IDENTITY_BIAS = 5.0
FORMATS = ("torchvision_s3d", "kylemin_s3d", "howto100m_s3dg", "tfslim_npz", "acrn")
_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
# torchvision / kylemin ``features.<i>`` / ``base.<i>`` index of every endpoint with parameters.
_INDEX = {0: "Conv2d_1a_7x7", 2: "Conv2d_2b_1x1", 3: "Conv2d_2c_3x3", 5: "Mixed_3b", 6: "Mixed_3c", 8: "Mixed_4b",
          9: "Mixed_4c", 10: "Mixed_4d", 11: "Mixed_4e", 12: "Mixed_4f", 14: "Mixed_5b", 15: "Mixed_5c"}
_MIXED = [n for n in ENDPOINTS if n.startswith("Mixed")]


@dataclass
class Checkpoint:
    """A checkpoint read from disk: its ``format`` (one of :data:`FORMATS`) and raw tensors by source key."""

    format: str
    state: dict[str, Tensor]
    path: str = "<memory>"


@dataclass
class Mapped:
    """Tensors renamed into our key space; ``origin`` maps each of our keys to its source key(s)."""

    tensors: dict[str, Tensor] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)  # source keys with no counterpart in our layout
    notes: list[str] = field(default_factory=list)

    def put(self, key: str, value: Tensor, src: str) -> None:
        self.tensors[key] = value
        self.origin[key] = src


@dataclass
class ImportReport:
    """What an import did. ``missing``: target keys left at their init (gates listed apart in
    ``gates_identity``); ``unused``: source keys that went nowhere; ``adapted``: key -> how it was reshaped."""

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    gates_identity: list[str] = field(default_factory=list)
    adapted: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self, limit: int = 8) -> str:
        def few(keys: list[str]) -> str:
            return ", ".join(keys[:limit]) + (f", ... (+{len(keys) - limit})" if len(keys) > limit else "")

        parts = [f"{self.source}: loaded {len(self.loaded)} tensors"]
        if self.missing:
            parts.append(f"missing {len(self.missing)}: {few(self.missing)}")
        if self.unused:
            parts.append(f"unused {len(self.unused)}: {few(self.unused)}")
        if self.gates_identity:
            parts.append(f"{len(self.gates_identity)} gates set near identity")
        if self.adapted:
            parts.append("adapted: " + few([f"{k} ({v})" for k, v in self.adapted.items()]))
        parts += self.notes
        return "; ".join(parts)


# ------------------------------------------------------------------------------------------------
# Reading files


def _unwrap(obj: object, path: str) -> dict[str, Tensor]:
    for key in ("state_dict", "model", "model_state", "module"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise InputError(f"{path}: expected a state dict of tensors (optionally under 'state_dict' or 'model')")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def detect_format(keys: list[str] | set[str]) -> str | None:
    """Guess the checkpoint format from its key names (``None`` if unknown)."""
    keys = set(keys)
    if "features.0.0.0.weight" in keys:
        return "torchvision_s3d"
    if "base.0.conv_s.weight" in keys or "base.0.conv.weight" in keys:
        return "kylemin_s3d"
    if "conv1.conv1.weight" in keys and any(k.startswith("mixed_") for k in keys):
        return "howto100m_s3dg"
    if any(k.startswith("InceptionV1/") for k in keys):
        return "tfslim_npz"
    if any(part in ENDPOINTS for k in keys for part in k.split(".")):
        return "acrn"
    return None


def read_checkpoint(path: str | Path, fmt: str = "auto") -> Checkpoint:
    """Read a checkpoint file safely and identify its format (``fmt="auto"``: from the key names)."""
    path = str(path)
    if not Path(path).is_file():
        raise InputError(f"{path}: checkpoint file not found")
    try:
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as z:
                state = {k: torch.from_numpy(np.array(z[k])) for k in z.files}
        else:
            state = _unwrap(torch.load(path, map_location="cpu", weights_only=True), path)
    except InputError:
        raise
    except Exception as e:  # a corrupt or unsafe file: one line, no traceback
        raise InputError(f"{path}: cannot read checkpoint ({e.__class__.__name__}: {str(e).splitlines()[0][:200]})") \
            from None
    found = detect_format(state.keys())
    if fmt == "auto":
        if found is None:
            raise InputError(f"{path}: unknown checkpoint layout (first keys: {', '.join(list(state)[:3])}); "
                             f"set model.pretrained_format to one of {', '.join(FORMATS)}")
        fmt = found
    elif fmt not in FORMATS:
        raise InputError(f"{path}: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return Checkpoint(fmt, state, path)


# ------------------------------------------------------------------------------------------------
# Key mappings (source -> ours), one per format


def _map_units(state: dict[str, Tensor], units: dict[str, str]) -> Mapped:
    """Rename ``<unit>.<param>`` keys through the ``units`` table (source unit -> our unit); keys of
    other units (classifier heads, text towers) are listed as dropped."""
    m = Mapped()
    for key, value in state.items():
        unit, _, param = key.rpartition(".")
        if unit in units:
            m.put(f"{units[unit]}.{param}", value, key)
        else:
            m.dropped.append(key)
    return m


def _torchvision_units() -> dict[str, str]:
    u = {"features.0.0.0": "Conv2d_1a_7x7.conv", "features.0.0.1": "Conv2d_1a_7x7.bn",
         "features.0.1.0": "Conv2d_1a_7x7.conv_t", "features.0.1.1": "Conv2d_1a_7x7.bn_t",
         "features.2.0": "Conv2d_2b_1x1.conv", "features.2.1": "Conv2d_2b_1x1.bn",
         "features.3.0.0": "Conv2d_2c_3x3.conv", "features.3.0.1": "Conv2d_2c_3x3.bn",
         "features.3.1.0": "Conv2d_2c_3x3.conv_t", "features.3.1.1": "Conv2d_2c_3x3.bn_t"}
    for i, ep in _INDEX.items():
        if ep.startswith("Mixed"):
            f = f"features.{i}"
            u |= {f"{f}.branch0.0": f"{ep}.b0.conv", f"{f}.branch0.1": f"{ep}.b0.bn",
                  f"{f}.branch3.1.0": f"{ep}.b3.conv", f"{f}.branch3.1.1": f"{ep}.b3.bn"}
            for b in ("1", "2"):
                u |= {f"{f}.branch{b}.0.0": f"{ep}.b{b}a.conv", f"{f}.branch{b}.0.1": f"{ep}.b{b}a.bn",
                      f"{f}.branch{b}.1.0.0": f"{ep}.b{b}b.conv", f"{f}.branch{b}.1.0.1": f"{ep}.b{b}b.bn",
                      f"{f}.branch{b}.1.1.0": f"{ep}.b{b}b.conv_t", f"{f}.branch{b}.1.1.1": f"{ep}.b{b}b.bn_t"}
    return u


def _kylemin_units() -> dict[str, str]:
    u: dict[str, str] = {}
    sep = {"conv_s": "conv", "bn_s": "bn", "conv_t": "conv_t", "bn_t": "bn_t"}
    for i, ep in _INDEX.items():
        f = f"base.{i}"
        if ep in ("Conv2d_1a_7x7", "Conv2d_2c_3x3"):
            u |= {f"{f}.{a}": f"{ep}.{b}" for a, b in sep.items()}
        elif ep == "Conv2d_2b_1x1":
            u |= {f"{f}.conv": f"{ep}.conv", f"{f}.bn": f"{ep}.bn"}
        else:
            for src, ours in (("branch0.0", "b0"), ("branch1.0", "b1a"), ("branch2.0", "b2a"), ("branch3.1", "b3")):
                u |= {f"{f}.{src}.conv": f"{ep}.{ours}.conv", f"{f}.{src}.bn": f"{ep}.{ours}.bn"}
            for src, ours in (("branch1.1", "b1b"), ("branch2.1", "b2b")):
                u |= {f"{f}.{src}.{a}": f"{ep}.{ours}.{b}" for a, b in sep.items()}
    return u


def _howto100m_units() -> dict[str, str]:
    u = {"conv1.bn1": "Conv2d_1a_7x7.bn", "conv_2b.conv1": "Conv2d_2b_1x1.conv", "conv_2b.bn1": "Conv2d_2b_1x1.bn",
         "conv_2c.conv1": "Conv2d_2c_3x3.conv", "conv_2c.bn1": "Conv2d_2c_3x3.bn",
         "conv_2c.conv2": "Conv2d_2c_3x3.conv_t", "conv_2c.bn2": "Conv2d_2c_3x3.bn_t",
         "gating.fc": "Conv2d_2c_3x3.gate.fc"}
    halves = {"conv1": "conv", "bn1": "bn", "conv2": "conv_t", "bn2": "bn_t"}
    for ep in _MIXED:
        f = ep.lower()
        for src, ours in (("conv_b0", "b0"), ("conv_b1_a", "b1a"), ("conv_b1_b", "b1b"), ("conv_b2_a", "b2a"),
                          ("conv_b2_b", "b2b"), ("conv_b3_b", "b3")):
            u |= {f"{f}.{src}.{a}": f"{ep}.{ours}.{b}" for a, b in halves.items()}
        u |= {f"{f}.gating_b{i}.fc": f"{ep}.g{i}.fc" for i in range(4)}
    return u


def space_to_depth_kernel(w: Tensor) -> Tensor:
    """HowTo100M conv1 ``[Co, 8*C, 2, 4, 4]`` (stride-1 conv on a 2x2x2 space-to-depth input, padding
    (1, 2, 2), output cropped by one at the front) -> the equal stride-2 conv ``[Co, C, 4, 8, 8]`` on the
    raw input, whose taps sit at offsets t = 0..3, h, w = -2..5 from ``2 * output index``.
    """
    co, c8, kt, kh, kw = w.shape
    c = c8 // 8
    w = w.reshape(co, 2, 2, 2, c, kt, kh, kw)  # channel index = ((dt*2 + dh)*2 + dw)*C + c
    w = w.permute(0, 4, 5, 1, 6, 2, 7, 3)  # co, c, a, dt, b, dh, e, dw  -> tap = 2*a + dt
    return w.reshape(co, c, 2 * kt, 2 * kh, 2 * kw)


def fit_dense_conv1(dense: Tensor, kt1: int) -> Tensor:
    """Approximate the HowTo100M conv1 (see :func:`space_to_depth_kernel`) by our ``kt1 x 7 x 7`` conv:
    temporal taps summed into the centre tap (exact on static clips), spatial offsets -2..4 kept (a
    one-pixel shift; the 8th tap, offset 5, dropped)."""
    out = dense.new_zeros(dense.shape[0], dense.shape[1], kt1, 7, 7)
    out[:, :, kt1 // 2] = dense.sum(2)[:, :, :7, :7]
    return out


def map_torchvision_s3d(state: dict[str, Tensor], target: nn.Module | None = None) -> Mapped:
    return _map_units(state, _torchvision_units())


def map_kylemin_s3d(state: dict[str, Tensor], target: nn.Module | None = None) -> Mapped:
    return _map_units(state, _kylemin_units())


def map_howto100m_s3dg(state: dict[str, Tensor], target: nn.Module | None = None) -> Mapped:
    m = _map_units(state, _howto100m_units())
    w = state.get("conv1.conv1.weight")
    if w is not None:
        m.dropped.remove("conv1.conv1.weight")
        dense = space_to_depth_kernel(w)
        mine = _target_shape(target, "Conv2d_1a_7x7.conv.weight")
        kt1 = mine[2] if mine is not None else 1
        m.put("Conv2d_1a_7x7.conv.weight", fit_dense_conv1(dense, kt1), "conv1.conv1.weight")
        m.notes.append("conv1 approximated from the space-to-depth 4x8x8 kernel (temporal taps summed, "
                       "spatial 8th tap dropped); BN eps of the source was 1e-5")
    return m


_TF_BRANCH = {"Branch_0/Conv2d_0a_1x1": ("b0", "g0"), "Branch_1/Conv2d_0a_1x1": ("b1a", None),
              "Branch_1/Conv2d_0b_3x3": ("b1b", "g1"), "Branch_2/Conv2d_0a_1x1": ("b2a", None),
              "Branch_2/Conv2d_0b_3x3": ("b2b", "g2"), "Branch_3/Conv2d_0b_1x1": ("b3", "g3")}
_TF_RE = re.compile(r"^InceptionV1/(\w+?)/(Branch_\d/Conv2d_0\w_\dx\d/)?(.+)$")


def map_tfslim_npz(state: dict[str, Tensor], target: nn.Module | None = None) -> Mapped:
    """TF-slim ``s3dg`` variables (spec 2.3): NDHWC weights permuted, gamma-less BN given weight 1, the
    temporal conv bias loaded into an identity ``bn_t`` (weight 1, mean 0, var ``1 - eps``), self-gating
    ``transformer_W`` transposed into ``fc.weight`` with zero bias."""
    # BatchNorm or FrozenBatchNorm: both carry eps and running_var
    eps = next((m.eps for m in target.modules() if hasattr(m, "eps") and hasattr(m, "running_var")), 1e-3) \
        if target is not None else 1e-3
    m = Mapped()
    for key, v in state.items():
        hit = _TF_RE.match(key)
        ep = hit.group(1) if hit else None
        if hit is None or ep not in ENDPOINTS or (hit.group(2) is None) != (not ep.startswith("Mixed")):
            m.dropped.append(key)
            continue
        if hit.group(2) is None:
            unit, gate = ep, f"{ep}.gate"
        else:
            branch, g = _TF_BRANCH[hit.group(2)[:-1]]
            unit, gate = f"{ep}.{branch}", (f"{ep}.{g}" if g else None)
        rest = hit.group(3)
        v = torch.as_tensor(v)
        if rest == "weights":
            m.put(f"{unit}.conv.weight", v.permute(4, 3, 0, 1, 2).contiguous(), key)
        elif rest.startswith("BatchNorm/") and rest[10:] in ("beta", "gamma", "moving_mean", "moving_variance"):
            ours = {"beta": "bias", "gamma": "weight", "moving_mean": "running_mean",
                    "moving_variance": "running_var"}[rest[10:]]
            m.put(f"{unit}.bn.{ours}", v, key)
            if f"{unit}.bn.weight" not in m.tensors:
                m.put(f"{unit}.bn.weight", torch.ones_like(v), key + " (no gamma: 1)")
        elif rest == "temporal/weights":
            m.put(f"{unit}.conv_t.weight", v.permute(4, 3, 0, 1, 2).contiguous(), key)
        elif rest == "temporal/biases":
            m.put(f"{unit}.bn_t.bias", v, key)
            m.put(f"{unit}.bn_t.weight", torch.ones_like(v), key + " (identity BN)")
            m.put(f"{unit}.bn_t.running_mean", torch.zeros_like(v), key + " (identity BN)")
            m.put(f"{unit}.bn_t.running_var", torch.full_like(v, 1.0 - eps), key + " (identity BN)")
        elif rest == "self_gating/transformer_W/weights" and gate is not None:
            m.put(f"{gate}.fc.weight", v[0, 0, 0].t().contiguous(), key)
            m.put(f"{gate}.fc.bias", v.new_zeros(v.shape[-1]), key + " (no bias: 0)")
        else:
            m.dropped.append(key)
    m.notes.append("TF-slim weights use SAME padding; this model pads symmetrically (exact only where equal)")
    return m


def map_acrn(state: dict[str, Tensor], target: nn.Module | None = None, stream: str = "rgb") -> Mapped:
    """Our own keys, possibly under a prefix (``backbone.rgb.``, ``rgb.``, ``module.``, a head's name...).

    Keys are grouped by the prefix before their endpoint name; the group covering most of ``target``'s
    keys wins, ties going to a prefix that ends with ``<stream>`` (so a two-stream checkpoint fills each
    stream from its own weights and a Mixed_5b/5c head from whichever group has them)."""
    groups: dict[str, dict[str, Tensor]] = {}
    for key, v in state.items():
        parts = key.split(".")
        i = next((j for j, p in enumerate(parts) if p in ENDPOINTS), None)
        if i is not None:
            groups.setdefault(".".join(parts[:i]), {})[".".join(parts[i:])] = v
    m = Mapped()
    if not groups:
        m.dropped = list(state)
        return m
    own = set(target.state_dict()) if target is not None else set()

    def score(prefix: str) -> tuple[int, bool, int]:
        return len(own & set(groups[prefix])), prefix == stream or prefix.endswith(f".{stream}"), len(groups[prefix])

    pick = max(groups, key=score)
    prefix = f"{pick}." if pick else ""
    for k, v in groups[pick].items():
        m.put(k, v, prefix + k)
    m.dropped = [k for k in state if not (k.startswith(prefix) and k[len(prefix):] in groups[pick])]
    return m


MAPPERS = {"torchvision_s3d": map_torchvision_s3d, "kylemin_s3d": map_kylemin_s3d,
           "howto100m_s3dg": map_howto100m_s3dg, "tfslim_npz": map_tfslim_npz}


# ------------------------------------------------------------------------------------------------
# Loading


def _target_shape(target: nn.Module | None, key: str) -> torch.Size | None:
    if target is None:
        return None
    t = target.state_dict().get(key)
    return None if t is None else t.shape


def rgb_to_flow(mapped: Mapped, in_channels: int = 2) -> Mapped:
    """Cross-modality init: conv1 weight averaged over its RGB input channels, repeated ``in_channels`` times."""
    key = "Conv2d_1a_7x7.conv.weight"
    w = mapped.tensors.get(key)
    if w is not None and w.shape[1] != in_channels:
        mapped.put(key, w.mean(1, keepdim=True).repeat(1, in_channels, 1, 1, 1).contiguous(),
                   mapped.origin[key] + " (RGB mean)")
    return mapped


def _adapt(key: str, src_key: str, value: Tensor, shape: torch.Size, source: str) -> tuple[Tensor, str | None]:
    """``value`` reshaped to ``shape`` when a defined rule allows it, else an InputError."""
    if value.shape == shape:
        return value, None
    if value.dim() == 5 and len(shape) == 5 and value.shape[2] == 1 and value.shape[:2] == shape[:2] \
            and value.shape[3:] == shape[3:]:
        # 2D (1 x k x k) kernel into a kt x k x k conv: centre tap, zeros elsewhere (same output on any clip
        # for the centre frame; I3D-style "inflation" without the 1/kt spreading).
        out = value.new_zeros(shape)
        out[:, :, shape[2] // 2] = value[:, :, 0]
        return out, f"centre tap of {shape[2]}"
    raise InputError(f"{source}: {src_key} -> {key}: checkpoint shape {tuple(value.shape)} does not fit "
                     f"the model's {tuple(shape)}")


def load_mapped(target: nn.Module, mapped: Mapped, source: str, gates_identity: bool = True) -> ImportReport:
    """Copy every mapped tensor whose key ``target`` has; report the rest (see :class:`ImportReport`)."""
    own = target.state_dict()
    report = ImportReport(source, notes=list(mapped.notes))
    new: dict[str, Tensor] = {}
    used_src: set[str] = set()
    for key, value in mapped.tensors.items():
        src = mapped.origin[key]
        if key not in own:
            frozen_bn = key.endswith("num_batches_tracked") and \
                key.replace("num_batches_tracked", "running_mean") in own  # FrozenBatchNorm has no counter
            if not frozen_bn:
                report.unused.append(src)
            continue
        value, how = _adapt(key, src, value, own[key].shape, source)
        if how:
            report.adapted[key] = how
        new[key] = value.to(own[key].dtype)
        used_src.add(src)
        report.loaded.append(key)
    report.unused = [k for k in report.unused if k not in used_src] + mapped.dropped
    for key in own:
        if key in new:
            continue
        gate = re.search(r"(^|\.)(g[0-3]|gate)\.fc\.(weight|bias)$", key)
        if gates_identity and gate:
            new[key] = torch.zeros_like(own[key]) if key.endswith("weight") else \
                torch.full_like(own[key], GATE_IDENTITY_BIAS)
            report.gates_identity.append(key)
        elif not key.endswith("num_batches_tracked"):
            report.missing.append(key)
    with torch.no_grad():
        target.load_state_dict(new, strict=False)
    return report


def import_backbone(target: nn.Module, source: Checkpoint, stream: str = "rgb") -> ImportReport:
    """Import ``source`` (any S3D format) into an S3D-G / I3D / frame-2D trunk or a :class:`Mixed5` head.

    ``stream="flow"``: conv1 averaged over the RGB channels (:func:`rgb_to_flow`) unless the checkpoint
    already has a 2-channel conv1 (acrn two-stream checkpoints).
    """
    if source.format == "acrn":
        mapped = map_acrn(source.state, target, stream)
    elif source.format in MAPPERS:
        mapped = MAPPERS[source.format](source.state, target)
    else:
        raise InputError(f"{source.path}: unknown format {source.format!r}; expected one of {', '.join(FORMATS)}")
    shape = _target_shape(target, "Conv2d_1a_7x7.conv.weight")
    if shape is not None:
        mapped = rgb_to_flow(mapped, shape[1]) if stream == "flow" else mapped
    report = load_mapped(target, mapped, f"{source.path} [{source.format}]")
    if not report.loaded:
        raise InputError(f"{source.path}: no tensor of this {source.format} checkpoint matches the model "
                         f"(first keys: {', '.join(list(source.state)[:3])})")
    return report


def import_torchvision_resnet50(target: nn.Module, source: Checkpoint | dict[str, Tensor]) -> ImportReport:
    """torchvision ResNet-50 (ImageNet) or Faster R-CNN ``backbone.body.*`` into a ResNet with torchvision's
    key names (``conv1, bn1, layerL.B.convZ/bnZ, layerL.0.downsample.0/1``); ``fc.*`` and detection keys
    are reported unused. Shapes must match exactly."""
    ckpt = source if isinstance(source, Checkpoint) else Checkpoint("torchvision_resnet50", dict(source))
    state = ckpt.state
    body = any(k.startswith("backbone.body.") for k in state)
    m = Mapped()
    for key, v in state.items():
        ours = key.removeprefix("backbone.body.") if body else key
        if (body and not key.startswith("backbone.body.")) or ours.startswith("fc."):
            m.dropped.append(key)
        else:
            m.put(ours, v, key)
    if body:
        m.notes.append("Faster R-CNN bodies use FrozenBatchNorm2d (COCO_V1: eps 0.0)")
    own = target.state_dict()
    for key, v in m.tensors.items():
        if key in own and own[key].shape != v.shape:
            raise InputError(f"{ckpt.path}: {m.origin[key]} -> {key}: checkpoint shape {tuple(v.shape)} does not "
                             f"fit the model's {tuple(own[key].shape)}")
    return load_mapped(target, m, f"{ckpt.path} [resnet50]", gates_identity=False)


__all__ = ["FORMATS", "GATE_IDENTITY_BIAS", "MAPPERS", "Checkpoint", "ImportReport", "Mapped", "detect_format",
           "fit_dense_conv1", "import_backbone", "import_torchvision_resnet50", "load_mapped", "map_acrn",
           "map_howto100m_s3dg", "map_kylemin_s3d", "map_tfslim_npz", "map_torchvision_s3d", "read_checkpoint",
           "rgb_to_flow", "space_to_depth_kernel"]
