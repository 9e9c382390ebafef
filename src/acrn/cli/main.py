"""``acrn`` entry point.

Each subcommand lives in its own module with a ``register(subparsers)`` function that adds its parser
and sets ``func`` (called with the parsed args, returning an exit code). The list below is explicit:
a command appears in ``acrn --help`` only when its module is here.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from acrn import __version__
from acrn.errors import AcrnError

# Subcommand modules, in the order ``acrn --help`` lists them.
COMMANDS = [
    "acrn.cli.demo_cmd",
    "acrn.cli.ablate_cmd",
    "acrn.cli.study_cmd",
    "acrn.cli.synth_cmd",
    "acrn.cli.train_cmd",
    "acrn.cli.evaluate_cmd",
    "acrn.cli.detect_cmd",
    "acrn.cli.link_cmd",
    "acrn.cli.proposals_cmd",
    "acrn.cli.weights_cmd",
    "acrn.cli.export_cmd",
    "acrn.cli.data_cmd",
    "acrn.cli.flow_cmd",
    "acrn.cli.model_cmd",
    "acrn.cli.config_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="acrn",
        description="Spatio-temporal action detection with Actor-Centric Relation Networks.",
    )
    parser.add_argument("--version", action="version", version=f"acrn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except AcrnError as e:
        print(f"acrn {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"acrn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
