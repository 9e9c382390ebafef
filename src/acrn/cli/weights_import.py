"""``acrn weights import mmaction2 FILE.pth --out acrn.pt``: convert a published checkpoint into an acrn one.

Supported: MMAction2's ACRN AVA detectors (``slowfast-acrn_kinetics400-pretrained-r50_8xb8-8x8x1-cosine-10e_
ava21-rgb`` and its ``ava22`` twin; see docs/mmaction2.md). The converted checkpoint holds the model config
(SlowFast-R50 + MMAction2's ACRN head, 32 frames at interval 2, short side 256) and the AVA label map, and runs
through ``acrn detect`` and ``acrn evaluate run``. A checkpoint of another architecture, a truncated file, a
pickle that would run code or a missing / mis-shaped tensor is refused with one line; nothing is written.
"""

from __future__ import annotations

import argparse
import json

SOURCES = ("mmaction2",)


def register(wsub: argparse._SubParsersAction) -> None:
    im = wsub.add_parser("import", help="convert a published checkpoint (MMAction2 ACRN AVA) into an acrn checkpoint",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    im.add_argument("source", choices=SOURCES, help="where the checkpoint comes from")
    im.add_argument("file", metavar="FILE.pth")
    im.add_argument("--out", required=True, metavar="acrn.pt", help="the acrn checkpoint to write")
    im.add_argument("--variant", default="ava21", choices=("ava21", "ava22"),
                    help="which MMAction2 config the file was trained with (recorded in the checkpoint)")
    im.add_argument("--json", action="store_true", help="print the import report as JSON")
    im.set_defaults(func=run_import)


def run_import(args: argparse.Namespace) -> int:
    from acrn.models.import_mmaction2 import convert_mmaction2

    result = convert_mmaction2(args.file, args.out, args.variant)
    if args.json:
        print(json.dumps({"out": result.out, "architecture": result.architecture, "loaded": len(result.loaded),
                          "dropped": result.dropped}, indent=1))
    else:
        print(result.summary())
        print(f"wrote {result.out}")
    return 0
