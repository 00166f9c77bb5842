"""`tdses import programmableweb …`: replay the ProgrammableWeb ecosystem onto a running network."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tdses.ecosystem import programmableweb
from tdses.ecosystem.progress import Progress
from tdses.ecosystem.running import DEFAULT_CONCURRENCY, ImportFailed, import_ecosystem
from tdses.local.cli import positive
from tdses.local.network import Network
from tdses.paths import DEFAULT_STATE_DIR


def add_parsers(sub: argparse._SubParsersAction) -> None:
    imp = sub.add_parser("import", help="import a real service ecosystem onto a running network")
    imp_sub = imp.add_subparsers(dest="ecosystem", required=True)
    pw = imp_sub.add_parser(
        "programmableweb", help="the ProgrammableWeb APIs and mashups (23,579 + 7,766), idempotent and resumable")
    pw.set_defaults(handler=run)
    pw.add_argument("--data", type=Path, default=None,
                    help="directory of the three tab-separated files (default ../shared/data/programmableweb "
                         "next to the repository, or $TDSES_PROGRAMMABLEWEB_DIR)")
    pw.add_argument("--limit", type=positive, default=None,
                    help="only the first N APIs and the mashups composed of them only (default: everything)")
    pw.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                    help=f"the network's state directory (default {DEFAULT_STATE_DIR}, or $TDSES_STATE_DIR)")
    pw.add_argument("--concurrency", type=positive, default=DEFAULT_CONCURRENCY,
                    help=f"transactions in flight at most (default {DEFAULT_CONCURRENCY})")
    pw.add_argument("--developers", type=positive, default=programmableweb.DEFAULT_DEVELOPERS,
                    help="how many developers own the services (default 100; owners depend on it, so keep it "
                         "the same across runs on one network)")


def run(args: argparse.Namespace) -> int:
    try:
        ecosystem = programmableweb.load(args.data, args.developers)
    except (OSError, ValueError) as exc:  # no such files, or malformed ones
        print(f"error: {exc}", file=sys.stderr)
        return 1
    network = Network.open(args.state_dir)
    try:
        summary = import_ecosystem(network, ecosystem, args.limit, args.concurrency, Progress(sys.stderr))
    except ImportFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"ProgrammableWeb onto the network in {args.state_dir}")
    print(summary.render())
    return 1 if summary.failed else 0
