"""``acrn config show FILE [--set ...]``: print the resolved, validated config."""

from __future__ import annotations

import argparse

from acrn.cli.common import add_config_args, config_from_args
from acrn.config import dump_yaml


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="show a resolved config")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = csub.add_parser("show", help="print the config after defaults, the file and --set overrides")
    add_config_args(show, required=False)
    show.add_argument("--no-comments", action="store_true", help="omit the one-line help comments")
    show.set_defaults(func=run_show)


def run_show(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    print(dump_yaml(cfg, comments=not args.no_comments), end="")
    return 0
