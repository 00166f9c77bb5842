"""The `tdses` command."""

from __future__ import annotations

import argparse
import sys

from tdses.network import cli as network_cli
from tdses.network.errors import NetworkError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tdses", description="T-DSES: a trusted decentralized service ecosystem on Fabric")
    sub = p.add_subparsers(dest="command", required=True)
    network_cli.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return network_cli.run(args)
    except NetworkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
