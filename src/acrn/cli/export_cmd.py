"""``acrn export CHECKPOINT --format onnx|torchscript --out FILE``: the detector for deployment.

Inputs of the exported graph: ``clip`` ``[1, 3, T, H, W]`` (normalised like the training data) and
``boxes`` ``[R, 4]`` actor boxes in key-frame pixels (from your person detector or ``acrn proposals``).
Outputs: ``scores`` ``[R, C]``, ``refined_boxes`` ``[R, 4]``, ``heatmaps`` ``[R, C, h, w]``.
With ``--check`` the ONNX file is run in onnxruntime and compared with PyTorch.
"""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a checkpoint to ONNX or TorchScript",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--format", required=True, choices=("onnx", "torchscript"))
    p.add_argument("--out", required=True, help="output file (.onnx / .pt)")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="input frame size to export for (default: test short side, square)")
    p.add_argument("--check", action="store_true", help="compare the exported model with PyTorch on a random clip")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from acrn.engine.export import ExportedDetector, example_inputs, export_onnx, export_torchscript, run_onnx
    from acrn.engine.infer import load_detector

    plain = ["runtime.compile=false", "runtime.channels_last=false"]  # export the plain eager modules
    cfg, model, _, extra = load_detector(args.checkpoint, args.overrides + plain, "cpu", actors="gt")
    module = ExportedDetector(model, cfg.model.num_classes).eval()
    size = tuple(args.size) if args.size else (cfg.data.test_short_side, cfg.data.test_short_side)
    inputs = example_inputs(cfg.data.num_frames, size)
    report = {"format": args.format, "out": args.out, "input_clip": [1, 3, cfg.data.num_frames, *size],
              "classes": extra["class_names"]}
    if args.format == "onnx":
        export_onnx(module, args.out, inputs)
    else:
        export_torchscript(module, args.out, inputs)
    if args.check:
        clip, boxes = example_inputs(cfg.data.num_frames, size, num_boxes=5)
        with torch.no_grad():
            ref = module(clip, boxes)
            got = run_onnx(args.out, clip, boxes) if args.format == "onnx" else torch.jit.load(args.out)(clip, boxes)
        report["max_abs_diff"] = max(float((torch.as_tensor(g) - r).abs().max()) for g, r in zip(got, ref))
    print(json.dumps(report))
    return 0
