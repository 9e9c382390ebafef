"""``acrn weights list|download|seed|import``: the registered weight files and their cache.

``list`` shows every registered file (name, licence, SHA-256, upstream URL) and whether it is in the
cache folder (``$ACRN_HOME/weights``, default ``~/.cache/acrn/weights``). ``download NAME`` fetches one
now (acrn otherwise downloads on first use). ``seed DIR`` copies registered files found in ``DIR``
(matched by file name, SHA-256 checked) into the cache, for machines without network. ``import mmaction2
FILE.pth --out acrn.pt`` converts a published MMAction2 ACRN AVA checkpoint (:mod:`acrn.cli.weights_import`).
"""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="registered weight files: list, download, seed the cache; import",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    wsub = p.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    ls = wsub.add_parser("list", help="registered weights and where they are cached")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(func=run_list)
    dl = wsub.add_parser("download", help="download registered weights into the cache now")
    dl.add_argument("names", nargs="+", metavar="NAME")
    dl.set_defaults(func=run_download)
    sd = wsub.add_parser("seed", help="copy registered files from a folder into the cache (offline machines)")
    sd.add_argument("folder", metavar="DIR")
    sd.set_defaults(func=run_seed)
    from acrn.cli import weights_import

    weights_import.register(wsub)


def run_list(args: argparse.Namespace) -> int:
    from acrn import hub

    rows = []
    for w in hub.REGISTRY.values():
        path = hub.cached_path(w.name)
        rows.append({"name": w.name, "file": w.filename, "cached": path.is_file(), "path": str(path),
                     "sha256": w.sha256, "licence": w.licence, "url": w.url, "description": w.description})
    if args.json:
        print(json.dumps({"cache": str(hub.cache_dir()), "weights": rows}, indent=1))
        return 0
    print(f"cache folder: {hub.cache_dir()}  (set ACRN_HOME to move it)")
    for r in rows:
        state = "cached" if r["cached"] else "not downloaded"
        print(f"{r['name']:<18} {state:<15} {r['licence']:<13} {r['description']}")
        print(f"{'':<18} {r['path']}\n{'':<18} sha256 {r['sha256']}\n{'':<18} {r['url']}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    from acrn import hub

    for name in args.names:
        print(f"{name}: {hub.weight_path(name)}")
    return 0


def run_seed(args: argparse.Namespace) -> int:
    from acrn import hub

    paths = hub.seed(args.folder)
    for p in paths:
        print(p)
    print(f"{len(paths)} registered file(s) in {hub.cache_dir()}")
    return 0
