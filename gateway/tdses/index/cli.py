"""`tdses index verify|rebuild|status --config gateway.yaml`: the registry index of a gateway, from the command line.

    tdses index verify --config .state/network/nodes/gateway.org1/gateway.yaml   # exit 1 if the index differs
    tdses index rebuild --config .state/network/nodes/gateway.org1/gateway.yaml  # empty it, refill from block 0

Both first bring the index up to the ledger's height themselves (a running gateway may follow at the same
time: a block is only ever applied once).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from fabric_gateway import Endpoint, FabricError, aio
from fabric_gateway.connection import read_pem
from fabric_protos.common import ledger_pb2

from tdses.index.follower import Follower
from tdses.index.store import IndexStore
from tdses.index.verify import compare, recheck

EXIT_OK, EXIT_DIFFERENT, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3


def add_parsers(sub: argparse._SubParsersAction) -> None:
    index = sub.add_parser("index", help="the registry index of a gateway (fed by the channel's blocks)")
    actions = index.add_subparsers(dest="action", required=True)
    for name, help_, handler in (
        ("verify", "compare the index with the ledger; print each difference (exit 1 if any)", _verify),
        ("rebuild", "empty the index and refill it from block 0", _rebuild),
        ("status", "the index's block and the ledger's height", _status),
    ):
        p = actions.add_parser(name, help=help_)
        p.add_argument("--config", type=Path, required=True, help="the gateway's YAML configuration")
        p.add_argument("--timeout", type=float, default=600.0, help="give up catching up after this many seconds")
        p.set_defaults(handler=lambda args, h=handler: _run(h, args))


def _run(handler, args: argparse.Namespace) -> int:
    """A command's exit code; what stops it is said in a line, not a traceback."""
    from tdses.rest.config import ConfigError

    try:
        return asyncio.run(handler(args))
    except (ConfigError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FabricError as exc:
        print(f"error: the peers did not answer as expected: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except TimeoutError:
        print(f"error: not caught up with the ledger within {args.timeout:g} s (--timeout); what was applied is "
              "kept: run the command again to go on", file=sys.stderr)
        return EXIT_FAILED


class Session:
    """What the commands share: the gateway's settings, its index and the chaincode as the org admin."""

    def __init__(self, config: Path) -> None:
        from tdses.rest.config import load_settings
        from tdses.rest.services.indexing import block_reader
        from tdses.rest.services.principal import load_admin

        self.settings = load_settings(config)
        admin = load_admin(self.settings.msp_id, self.settings.admin_msp_dir)
        self.location = self.settings.index.location(self.settings.store)
        self.store = IndexStore(self.location)
        self.reader = block_reader(self.settings, admin)
        endpoints = [Endpoint(p.address, p.server_name, read_pem(p.tls_ca_file)) for p in self.settings.peers]
        self.connection = aio.Connection(endpoints, connect_timeout=self.settings.connect_timeout)
        self.network = aio.Gateway(self.connection, admin.identity, admin.signer).get_network(self.settings.channel)
        self.contract = self.network.get_contract(self.settings.chaincode)

    async def height(self) -> int:
        raw = await self.network.get_contract("qscc").evaluate_transaction("GetChainInfo", self.settings.channel)
        return ledger_pb2.BlockchainInfo.FromString(raw).height

    async def catch_up(self, timeout: float, progress=None) -> int:
        """Apply blocks until the index holds the ledger's newest; returns that block."""
        last = await self.height() - 1
        follower = Follower(lambda: self.store, self.reader, self.settings.chaincode, on_block=progress)
        await asyncio.wait_for(follower.run(stop_at=last), timeout)
        return last

    async def close(self) -> None:
        await self.reader.close()
        await self.connection.close()
        self.store.close()


async def _verify(args: argparse.Namespace) -> int:
    session = Session(args.config)
    try:
        block = await session.catch_up(args.timeout)
        print(f"index {session.location} at block {block}", file=sys.stderr)
        differences = await compare(session.store, session.contract, lambda line: print(line, file=sys.stderr))
        if differences:  # the ledger may have moved on while we asked: catch up and ask again
            await session.catch_up(args.timeout)
            differences = await recheck(session.store, session.contract, differences)
        for difference in differences:
            print(difference)
        print(f"{len(differences)} differences", file=sys.stderr)
        return EXIT_DIFFERENT if differences else EXIT_OK
    finally:
        await session.close()


async def _rebuild(args: argparse.Namespace) -> int:
    session = Session(args.config)
    try:
        target = await session.height() - 1
        session.store.reset()
        started = time.monotonic()
        step = max(1, (target + 1) // 20)

        def progress(block: int) -> None:
            if block % step == 0 or block == target:
                print(f"block {block}/{target} ({(block + 1) * 100 // (target + 1)} %)", file=sys.stderr)

        block = await session.catch_up(args.timeout, progress)
        print(f"rebuilt {session.location} from block 0 to {block} in {time.monotonic() - started:.1f}s",
              file=sys.stderr)
        return EXIT_OK
    finally:
        await session.close()


async def _status(args: argparse.Namespace) -> int:
    session = Session(args.config)
    try:
        print(f"index {session.location}: block {session.store.current_block()}; "
              f"ledger: block {await session.height() - 1}")
        return EXIT_OK
    finally:
        await session.close()
