"""The `tdses` command: each area of the project adds its subcommands here."""

from __future__ import annotations

import argparse
import os
import sys

from tdses.ecosystem import cli as ecosystem_cli
from tdses.fabric.errors import NetworkError
from tdses.index import cli as index_cli
from tdses.k8s import cli as k8s_cli
from tdses.local import cli as network_cli
from tdses.metering import cli as metering_cli
from tdses.rest import cli as rest_cli

# Each module has add_parsers(subparsers), and sets `handler` (args -> exit code) on its parsers.
COMMANDS = [network_cli, rest_cli, metering_cli, k8s_cli, ecosystem_cli, index_cli]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tdses", description="T-DSES: a trusted decentralized service ecosystem on Fabric")
    sub = p.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except NetworkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def run() -> None:
    """The console script. `tdses … | head` ends quietly by catching BrokenPipeError, not by restoring SIGPIPE's
    default action: that would kill `tdses gateway serve` whenever a client hangs up mid-response."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    run()
