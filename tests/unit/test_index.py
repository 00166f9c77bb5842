"""The registry index without a network: blocks built with the protos, parsed, and applied to a SQLite index."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.config import Config
from fabric_gateway.deliver import (
    composite_key, new_seek_envelope, new_seek_newest_envelope, parse_block, split_composite_key,
)
from fabric_protos.common import common_pb2
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import (
    chaincode_event_pb2, chaincode_pb2, proposal_pb2, proposal_response_pb2, transaction_pb2,
)
from google.protobuf import timestamp_pb2
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tdses import migrating
from tdses.index import projection
from tdses.index import store as index_store
from tdses.index.blocks import index_block
from tdses.index.store import IndexStore, fts_query

CC = "tdses"
VALID = transaction_pb2.VALID
MVCC = transaction_pb2.MVCC_READ_CONFLICT
T0 = datetime(2025, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)


def key(ns: str, *attrs: str) -> str:
    return composite_key(ns, *attrs)


def delta_key(kind: str, owner: str, tx_id: str, time: str = "2026-12-03T12:00:00.000000000Z") -> str:
    """A delta key as the chaincode writes it: time-ordered, begun with its mark instead of U+0000."""
    return "\x01" + composite_key("tdses.tally~delta", kind, owner, time, tx_id, "000001")[1:]


def endorser_tx(tx_id: str, writes: list[tuple[str, object]], event: tuple[str, dict] | None = None,
                chaincode: str = CC, seconds: int = 0) -> bytes:
    """An endorser transaction envelope: writes are (key, JSON value or None for a delete)."""
    kv = kv_rwset_pb2.KVRWSet(writes=[
        kv_rwset_pb2.KVWrite(key=k, is_delete=v is None, value=b"" if v is None else json.dumps(v).encode())
        for k, v in writes])
    results = rwset_pb2.TxReadWriteSet(ns_rwset=[
        rwset_pb2.NsReadWriteSet(namespace="_lifecycle", rwset=kv_rwset_pb2.KVRWSet().SerializeToString()),
        rwset_pb2.NsReadWriteSet(namespace=chaincode, rwset=kv.SerializeToString())])
    events = b""
    if event:
        events = chaincode_event_pb2.ChaincodeEvent(chaincode_id=chaincode, tx_id=tx_id, event_name=event[0],
                                                    payload=json.dumps(event[1]).encode()).SerializeToString()
    action = proposal_pb2.ChaincodeAction(results=results.SerializeToString(), events=events,
                                          chaincode_id=chaincode_pb2.ChaincodeID(name=chaincode))
    response_payload = proposal_response_pb2.ProposalResponsePayload(extension=action.SerializeToString())
    action_payload = transaction_pb2.ChaincodeActionPayload(action=transaction_pb2.ChaincodeEndorsedAction(
        proposal_response_payload=response_payload.SerializeToString()))
    transaction = transaction_pb2.Transaction(actions=[
        transaction_pb2.TransactionAction(payload=action_payload.SerializeToString())])
    ts = timestamp_pb2.Timestamp(seconds=int(T0.timestamp()) + seconds, nanos=250_000_000)
    header = common_pb2.ChannelHeader(type=common_pb2.ENDORSER_TRANSACTION, tx_id=tx_id, timestamp=ts,
                                      channel_id="tdses")
    payload = common_pb2.Payload(header=common_pb2.Header(channel_header=header.SerializeToString()),
                                 data=transaction.SerializeToString())
    return common_pb2.Envelope(payload=payload.SerializeToString()).SerializeToString()


def config_tx() -> bytes:
    header = common_pb2.ChannelHeader(type=common_pb2.CONFIG, channel_id="tdses")
    payload = common_pb2.Payload(header=common_pb2.Header(channel_header=header.SerializeToString()), data=b"cfg")
    return common_pb2.Envelope(payload=payload.SerializeToString()).SerializeToString()


def block(number: int, envelopes: list[bytes], codes: list[int] | None = None) -> common_pb2.Block:
    codes = codes if codes is not None else [VALID] * len(envelopes)
    metadata = [b""] * 5
    metadata[common_pb2.BlockMetadataIndex.TRANSACTIONS_FILTER] = bytes(codes)
    return common_pb2.Block(header=common_pb2.BlockHeader(number=number),
                            data=common_pb2.BlockData(data=envelopes),
                            metadata=common_pb2.BlockMetadata(metadata=metadata))


def user(name: str, **changes) -> dict:
    return {"availableServices": 0, "certId": f"cert-{name}", "createdAt": "2025-03-01T12:00:00.25Z",
            "introduction": "", "mspId": "Org1MSP", "name": name, "status": "active",
            "updatedAt": "2025-03-01T12:00:00.25Z", **changes}


def service(name: str, developer: str, **changes) -> dict:
    return {"category": "weather", "components": [], "createdAt": "2025-03-01T12:00:01.25Z",
            "description": "forecasts for every city", "developer": developer, "mashup": False, "name": name,
            "price": 3, "qos": {"availabilityBp": 9990, "latencyMs": 120}, "requireVouchers": False,
            "status": "created", "updatedAt": "2025-03-01T12:00:01.25Z", "url": "https://w.example", **changes}


def rights(service_: str, user_: str, bought: int, used: int = 0, price: int = 3) -> dict:
    return {"bought": bought, "paid": bought * price, "remaining": bought - used, "service": service_,
            "updatedAt": "2025-03-01T12:00:02.25Z", "used": used, "user": user_}


def registry_blocks() -> list[common_pb2.Block]:
    """Genesis, two users, a service published, a mashup of it, a purchase (with an invalid twin), a reduction,
    a reward, a transfer and a server authorization later revoked."""
    return [
        block(0, [config_tx()]),
        block(1, [
            endorser_tx("tx-bob", [(key("tdses.tally", "user", "bob"), {"balance": 1000}),
                                   (key("tdses.user", "bob"), user("bob"))],
                        ("UserRegistered", {"grant": 1000, "mspId": "Org1MSP", "name": "bob"})),
            endorser_tx("tx-alice", [(key("tdses.tally", "user", "alice"), {"balance": 1000}),
                                     (key("tdses.user", "alice"), user("alice", mspId="Org2MSP"))],
                        ("UserRegistered", {"grant": 1000, "mspId": "Org2MSP", "name": "alice"}), seconds=1),
        ]),
        block(2, [
            endorser_tx("tx-svc", [(key("tdses.service", "weather-api"), service("weather-api", "bob")),
                                   (key("tdses.svc~status", "created", "weather-api"), 0)],
                        ("ServiceRegistered", {"developer": "bob", "service": "weather-api", "status": "created"})),
            endorser_tx("tx-pub", [(key("tdses.service", "weather-api"),
                                    service("weather-api", "bob", status="available")),
                                   (key("tdses.user", "bob"), user("bob", availableServices=1))],
                        ("ServicePublished", {"developer": "bob", "service": "weather-api", "status": "available"})),
        ]),
        block(3, [
            endorser_tx("tx-mash", [
                (key("tdses.service", "storm-map"), service("storm-map", "alice", mashup=True,
                                                            components=["weather-api"], category="maps",
                                                            description="storms on a map")),
                (key("tdses.tally", "user", "alice"), {"balance": 997}),
                (key("tdses.tally~delta", "user", "bob", "tx-mash", "000001"),  # as older chaincode wrote it
                 {"balance": 3, "composers": 1, "compositions": 1, "callsBought": 0, "callsUsed": 0}),
            ], ("MashupCreated", {"components": ["weather-api"], "developer": "alice", "paid": 3,
                                  "payments": [{"amount": 3, "developer": "bob", "service": "weather-api"}],
                                  "service": "storm-map"})),
            endorser_tx("tx-buy-lost",
                        [(key("tdses.rights", "weather-api", "alice"), rights("weather-api", "alice", 99))],
                        ("CallsBought", {})),
            endorser_tx("tx-buy", [
                (key("tdses.buy", "weather-api", "alice", "tx-buy"),
                 {"buyer": "alice", "calls": 5, "cost": 15, "price": 3, "service": "weather-api",
                  "timestamp": "t", "txId": "tx-buy"}),
                (key("tdses.rights", "weather-api", "alice"), rights("weather-api", "alice", 5)),
                (key("tdses.tally", "user", "alice"), {"balance": 982}),
                (delta_key("user", "bob", "tx-buy"),
                 {"balance": 15, "buyers": 1, "callsBought": 5, "callsUsed": 0, "compositions": 0}),
            ], ("CallsBought", {"buyer": "alice", "calls": 5, "cost": 15, "price": 3, "service": "weather-api",
                                "timestamp": "t", "txId": "tx-buy"})),
        ], codes=[VALID, MVCC, VALID]),
        block(4, [
            endorser_tx("tx-reduce", [
                (key("tdses.reduce", "weather-api", "alice", "tx-reduce"),
                 {"calls": 2, "reducer": "bob", "service": "weather-api", "timestamp": "t", "txId": "tx-reduce",
                  "user": "alice"}),
                (key("tdses.rights", "weather-api", "alice"), rights("weather-api", "alice", 5, used=2)),
            ], ("CallsReduced", {})),
            endorser_tx("tx-reward", [(key("tdses.tally", "user", "alice"), {"balance": 972}),
                                      (delta_key("user", "bob", "tx-reward"),
                                       {"balance": 10})],
                        ("ServiceRewarded", {"amount": 10, "developer": "bob", "from": "alice",
                                             "service": "weather-api", "txId": "tx-reward"})),
            endorser_tx("tx-compact", [  # bob folds his deltas into his base record
                (key("tdses.tally", "user", "bob"),
                 {"balance": 1028, "buyers": 1, "callsBought": 5, "composers": 1, "compositions": 1}),
                (key("tdses.tally~delta", "user", "bob", "tx-mash", "000001"), None),
                (delta_key("user", "bob", "tx-buy"), None),
                (delta_key("user", "bob", "tx-reward"), None),
            ], ("AccountCompacted", {"deltas": 3, "owner": "bob"})),
            endorser_tx("tx-transfer", [(key("tdses.tally", "user", "bob"),
                                         {"balance": 1000, "buyers": 1, "callsBought": 5, "composers": 1,
                                          "compositions": 1}),
                                        (delta_key("user", "alice", "tx-transfer"),
                                         {"balance": 28})],
                        ("Transferred", {"amount": 28, "from": "bob", "to": "alice", "txId": "tx-transfer"})),
            endorser_tx("tx-auth", [(key("tdses.server", "weather-api", "alice"),
                                     {"authorizedAt": "t", "server": "alice", "service": "weather-api"})],
                        ("ServerAuthorized", {"authorizedAt": "t", "server": "alice", "service": "weather-api"})),
        ]),
        block(5, [
            endorser_tx("tx-revoke", [(key("tdses.server", "weather-api", "alice"), None)],
                        ("ServerRevoked", {"authorizedAt": "t", "server": "alice", "service": "weather-api"})),
            endorser_tx("tx-other", [(key("tdses.user", "mallory"), user("mallory"))], chaincode="other"),
        ]),
    ]


@pytest.fixture
def store(tmp_path):
    s = IndexStore(tmp_path / "index.db")
    yield s
    s.close()


def apply_all(store: IndexStore, blocks=None) -> None:
    for b in blocks or registry_blocks():
        assert store.apply(index_block(b, CC))


# --- parsing ------------------------------------------------------------------------------------


def test_a_block_is_parsed_into_transactions_with_validation_codes_writes_and_events():
    parsed = parse_block(registry_blocks()[3])
    assert parsed.number == 3
    assert [(t.transaction_id, t.valid) for t in parsed.transactions] == [
        ("tx-mash", True), ("tx-buy-lost", False), ("tx-buy", True)]
    assert parsed.transactions[1].validation_code_name == "MVCC_READ_CONFLICT"
    buy = parsed.transactions[2]
    assert buy.timestamp == datetime(2025, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
    (action,) = buy.actions
    assert action.chaincode == CC and action.event.name == "CallsBought"
    assert [w.key for w in action.writes[CC]][1] == "\x00tdses.rights\x00weather-api\x00alice\x00"


def test_the_index_keeps_only_valid_transactions_of_its_chaincode():
    blocks = registry_blocks()
    assert [t.transaction_id for t in index_block(blocks[3], CC).transactions] == ["tx-mash", "tx-buy"]
    assert index_block(blocks[3], CC).validation_codes == (VALID, MVCC, VALID)
    assert [t.transaction_id for t in index_block(blocks[5], CC).transactions] == ["tx-revoke"]
    assert index_block(blocks[0], CC).transactions == ()
    revoke = index_block(blocks[5], CC).transactions[0].writes[0]
    assert (revoke.object_type, revoke.attributes, revoke.value) == ("tdses.server", ("weather-api", "alice"), None)


def test_a_block_whose_validation_codes_do_not_match_its_transactions_is_refused():
    with pytest.raises(ValueError, match="validation codes"):
        parse_block(block(7, [config_tx(), config_tx()], codes=[VALID]))


def test_composite_keys_split_as_the_shim_builds_them():
    assert split_composite_key(composite_key("tdses.rights", "svc", "alice")) == ("tdses.rights", ("svc", "alice"))
    assert split_composite_key(composite_key("tdses.config")) == ("tdses.config", ())
    assert split_composite_key("plain") is None


class FakeSigning:
    def creator(self) -> bytes:
        return b"creator"

    def sign(self, digest: bytes) -> bytes:
        return b"signed:" + digest


def test_a_seek_asks_for_every_block_from_the_start_waiting_for_new_ones():
    envelope = new_seek_envelope(FakeSigning(), "tdses", 42)
    payload = common_pb2.Payload.FromString(envelope.payload)
    seek = ab_pb2.SeekInfo.FromString(payload.data)
    assert (seek.start.specified.number, seek.stop.specified.number) == (42, 2**64 - 1)
    assert seek.behavior == ab_pb2.SeekInfo.BLOCK_UNTIL_READY
    assert common_pb2.ChannelHeader.FromString(payload.header.channel_header).type == common_pb2.DELIVER_SEEK_INFO
    assert envelope.signature.startswith(b"signed:")
    with pytest.raises(ValueError):
        new_seek_envelope(FakeSigning(), "tdses", 5, 4)


def test_a_seek_of_the_newest_block_starts_wherever_the_peer_is():
    payload = common_pb2.Payload.FromString(new_seek_newest_envelope(FakeSigning(), "tdses").payload)
    seek = ab_pb2.SeekInfo.FromString(payload.data)
    assert seek.start.WhichOneof("Type") == "newest"
    assert seek.stop.specified.number == 2**64 - 1 and seek.behavior == ab_pb2.SeekInfo.BLOCK_UNTIL_READY


# --- projection --------------------------------------------------------------------------------


def test_services_users_and_mashups_are_projected_with_the_transaction_that_wrote_them(store):
    apply_all(store)
    s = store.service("weather-api")
    assert (s["status"], s["developer"], s["price"], s["latency_ms"], s["availability_bp"]) == \
        ("available", "bob", 3, 120, 9990)
    assert (s["block"], s["tx_id"]) == (2, "tx-pub")
    assert s["ts"].replace(tzinfo=UTC) == datetime(2025, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
    mashup = store.service("storm-map")
    assert mashup["mashup"] is True and mashup["components"] == ["weather-api"]
    assert store.user("bob")["available_services"] == 1
    assert store.user("mallory") is None  # another chaincode's write


def test_rights_follow_the_valid_purchase_not_the_invalid_one(store):
    apply_all(store)
    r = store.rights("weather-api", "alice")
    assert (r["bought"], r["used"], r["remaining"], r["paid"], r["tx_id"]) == (5, 2, 3, 15, "tx-reduce")


def test_rights_keep_whether_they_are_used_up_only_by_vouchers(store):
    apply_all(store)
    assert store.rights("weather-api", "alice")["vouchers_only"] is False  # the chaincode leaves it out then
    assert store.apply(index_block(block(len(registry_blocks()), [endorser_tx("tx-metered", [
        (key("tdses.rights", "weather-api", "alice"), {**rights("weather-api", "alice", 9), "vouchersOnly": True})
    ])]), CC))
    assert store.rights("weather-api", "alice")["vouchers_only"] is True


def downgrade(store: IndexStore, revision: str) -> None:
    with migrating.exclusive(store.engine) as connection:
        config = Config()
        config.set_main_option("script_location", str(index_store.MIGRATIONS))
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_an_index_from_before_vouchers_only_empties_itself_to_be_refilled_with_it(tmp_path):
    location = tmp_path / "index.db"
    old = IndexStore(location)
    apply_all(old)
    downgrade(old, "0002")  # the index as a gateway before migration 0003 left it
    old.close()
    upgraded = IndexStore(location)
    try:
        assert upgraded.next_block() == 0 and upgraded.all_rights() == [] and upgraded.user("alice") is None
        with pytest.raises(IntegrityError), upgraded.engine.begin() as db:  # a replica of the version before
            db.execute(text("INSERT INTO index_rights (service, user, bought, paid, used, remaining, updated_at, "
                            "block, tx_id, ts) VALUES ('s', 'u', 1, 1, 0, 1, 't', 1, 'tx', '2025-03-01')"))
        apply_all(upgraded)
        assert upgraded.rights("weather-api", "alice")["vouchers_only"] is False
    finally:
        upgraded.close()


def test_writes_to_one_key_within_a_block_end_as_the_last_one_left_them(store):
    """A block's rows are written a statement at a time: the order on each key must survive that."""
    apply_all(store, registry_blocks()[:3])
    server = key("tdses.server", "weather-api", "carol")
    assert store.apply(index_block(block(3, [
        endorser_tx("tx-1", [(key("tdses.rights", "weather-api", "alice"), rights("weather-api", "alice", 1)),
                             (key("tdses.rights", "weather-api", "bob"), rights("weather-api", "bob", 4)),
                             (server, {"authorizedAt": "t1", "server": "carol", "service": "weather-api"})]),
        endorser_tx("tx-2", [(key("tdses.rights", "weather-api", "alice"), rights("weather-api", "alice", 2)),
                             (key("tdses.rights", "weather-api", "bob"), None),
                             (server, None)]),
        endorser_tx("tx-3", [(key("tdses.rights", "weather-api", "alice"), rights("weather-api", "alice", 3)),
                             (server, {"authorizedAt": "t3", "server": "carol", "service": "weather-api"})]),
        endorser_tx("tx-4", [(key("tdses.rights", "weather-api", "bob"), rights("weather-api", "bob", 7)),
                             (key("tdses.rights", "weather-api", "bob"), None)]),
    ]), CC))
    alice = store.rights("weather-api", "alice")
    assert (alice["bought"], alice["tx_id"]) == (3, "tx-3")
    assert store.rights("weather-api", "bob") is None
    assert store.servers("weather-api") == ["carol"]


def test_balances_fold_base_and_deltas_like_the_chaincode_including_deleted_deltas(store):
    apply_all(store)
    assert store.balance("bob") == 1000
    assert store.balance("alice") == 972 + 28
    assert store.tally("user", "bob")["buyers"] == 1


def test_activity_records_each_fact_once_newest_first(store):
    apply_all(store)
    kinds = [(a["kind"], a["tx_id"]) for a in store.activity(limit=100)]
    assert kinds[:3] == [("server_revoked", "tx-revoke"), ("server_authorized", "tx-auth"),
                         ("transfer", "tx-transfer")]
    purchase, = store.activity(kind="purchase")
    assert (purchase["service"], purchase["user"], purchase["calls"], purchase["amount"],
            purchase["detail"]) == ("weather-api", "alice", 5, 15, {"price": 3})
    reduction, = store.activity(kind="reduction")
    assert (reduction["user"], reduction["counterparty"], reduction["calls"]) == ("alice", "bob", 2)
    reward, = store.activity(kind="reward")
    assert (reward["user"], reward["counterparty"], reward["amount"]) == ("alice", "bob", 10)
    composition, = store.activity(kind="composition")  # the mashup paid bob for his service
    assert (composition["service"], composition["user"], composition["counterparty"], composition["amount"]) == \
        ("weather-api", "alice", "bob", 3)
    assert {a["kind"] for a in store.activity(user="bob")} >= {"transfer", "reward", "service_published"}
    assert store.servers("weather-api") == []


def test_keyword_search_covers_name_category_and_description(store):
    apply_all(store)
    assert [s["name"] for s in store.search("forecasts")] == ["weather-api"]
    assert [s["name"] for s in store.search("storm maps")] == ["storm-map"]
    assert store.search('weather" OR name:*') == []  # the words are matched, never run as a query
    assert fts_query('a" b') == '"a" "b"'


# --- checkpoint ----------------------------------------------------------------------------------


def test_a_block_is_applied_once_and_only_in_order(store):
    blocks = registry_blocks()
    assert store.apply(index_block(blocks[0], CC))
    assert not store.apply(index_block(blocks[2], CC))  # a gap
    assert store.apply(index_block(blocks[1], CC))
    assert not store.apply(index_block(blocks[1], CC))  # again
    assert store.current_block() == 1
    assert [u["name"] for u in store.users()] == ["alice", "bob"]


def test_a_failure_half_way_through_a_block_leaves_neither_its_rows_nor_its_checkpoint(store, monkeypatch):
    blocks = registry_blocks()
    apply_all(store, blocks[:3])
    real, calls = projection.Projection.apply_transaction, []

    def fail_on_second(self, tx):
        calls.append(tx.transaction_id)
        if len(calls) == 2:
            raise RuntimeError("killed")
        real(self, tx)

    monkeypatch.setattr(projection.Projection, "apply_transaction", fail_on_second)
    with pytest.raises(RuntimeError):
        store.apply(index_block(blocks[3], CC))
    monkeypatch.undo()
    assert store.current_block() == 2 and store.service("storm-map") is None
    apply_all(store, blocks[3:])
    fresh = IndexStore(store.url.removeprefix("sqlite:///") + ".fresh")
    apply_all(fresh)
    assert store.dump() == fresh.dump()
    fresh.close()


def test_reset_empties_the_index_and_a_rebuild_gives_the_same_rows(store):
    apply_all(store)
    before = store.dump()
    store.reset()
    assert store.next_block() == 0 and store.users() == []
    apply_all(store)
    assert store.dump() == before


async def test_a_follower_answers_from_what_a_rebuilt_index_holds_not_from_where_it_was(store):
    from tdses.index.follower import Follower

    class Reader:
        async def blocks(self, start, stop=None):
            for b in registry_blocks()[start:stop + 1]:
                yield b

    follower = Follower(lambda: store, Reader(), CC)
    await follower.run(stop_at=3)
    assert follower.current_block == 3
    store.reset()  # `tdses index rebuild`, beside the gateway
    await follower._follow(stop_at=1)  # it follows again, as after noticing the checkpoint went back
    assert follower.current_block == 1 and store.current_block() == 1


async def test_a_follower_that_applied_blocks_since_its_last_failure_waits_briefly_again(store, monkeypatch):
    from tdses.index import follower as following

    class Reader:  # a peer that drops the stream after each block
        async def blocks(self, start, stop=None):
            yield registry_blocks()[start]
            raise ConnectionError("stream reset")

    waits = []

    async def sleep(seconds):
        waits.append(seconds)

    monkeypatch.setattr(following.asyncio, "sleep", sleep)
    follower = following.Follower(lambda: store, Reader(), CC)
    await follower.run(stop_at=3)
    assert follower.current_block == 3 and waits == [0.5] * 4


def test_the_store_says_which_services_changed_since_a_generation_even_when_another_follower_applied_them(tmp_path):
    one, other = IndexStore(tmp_path / "index.db"), IndexStore(tmp_path / "index.db")
    try:
        blocks = registry_blocks()
        for b in blocks[:3]:  # up to weather-api's publication
            assert one.apply(index_block(b, CC))
            assert not other.apply(index_block(b, CC))  # applied already: nothing written twice
        seen = other.generation
        assert other.unchanged_since("weather-api", seen) and other.unchanged_since("storm-map", seen)
        assert one.apply(index_block(blocks[3], CC))  # the mashup composes weather-api: only storm-map changes
        assert not other.apply(index_block(blocks[3], CC))
        assert other.unchanged_since("weather-api", seen) and not other.unchanged_since("storm-map", seen)
        assert other.unchanged_since("storm-map", other.generation)
        other.reset()
        assert not other.unchanged_since("weather-api", seen)
    finally:
        one.close()
        other.close()


def test_compositions_count_only_other_developers_mashups_as_the_chaincode_does(tmp_path):
    own = block(len(registry_blocks()), [endorser_tx("tx-own-mash", [
        (key("tdses.service", "bob-map"), service("bob-map", "bob", mashup=True, components=["weather-api"])),
    ], ("MashupCreated", {"components": ["weather-api"], "developer": "bob", "paid": 0, "payments": [],
                          "service": "bob-map"}))])
    store = IndexStore(tmp_path / "index.db")
    apply_all(store, registry_blocks() + [own])
    rows = store.analytics("service", "day", "compositions", limit=10)
    assert [(r["key"], r["value"]) for r in rows] == [("weather-api", 1)]  # alice's storm-map, not bob's own
    store.close()


def test_analytics_beyond_their_limit_keep_the_newest_periods(tmp_path):
    store = IndexStore(tmp_path / "index.db")
    try:
        apply_all(store, [block(0, [config_tx()])] + [block(day, [endorser_tx(
            f"tx-{day}", [(key("tdses.service", f"s{day}"), service(f"s{day}", "bob"))],
            ("ServiceRegistered", {"developer": "bob", "service": f"s{day}", "status": "created"}),
            seconds=86_400 * day)]) for day in (1, 2, 3)])
        assert [r["bucket"] for r in store.analytics("developer", "day", "new_services", limit=10)] == \
            ["2025-03-02", "2025-03-03", "2025-03-04"]
        assert [r["bucket"] for r in store.analytics("developer", "day", "new_services", limit=2)] == \
            ["2025-03-03", "2025-03-04"]  # the oldest left out, the rest oldest first
    finally:
        store.close()


def test_relevance_pages_go_on_after_their_last_row_while_services_are_registered(tmp_path):
    """bm25 weighs words by the whole index: each registration between two pages moves every rank."""
    from dataclasses import replace

    from tdses.index.search import ServiceQuery

    def registered(number: int, names: list[str], description) -> common_pb2.Block:
        return block(number, [endorser_tx(f"tx-{n}", [(key("tdses.service", n), service(
            n, "bob", category="misc", description=description(i)))]) for i, n in enumerate(names)])

    store = IndexStore(tmp_path / "index.db")
    try:
        apply_all(store, [block(0, [config_tx()]),
                          registered(1, [f"s{i:03d}" for i in range(120)],
                                     lambda i: "weather " * (1 + i % 5) + "data" if i % 2 else "maps data")])
        query = ServiceQuery(words="weather", status="any", sort="relevance", limit=20)
        page = store.find_services(query)
        seen = [r["name"] for r in page.items]
        number = 2
        while page.next:
            assert store.apply(index_block(registered(number, [f"zz{number}"], lambda i: "unrelated " * 30), CC))
            number += 1
            page = store.find_services(replace(query, cursor=page.next))
            seen += [r["name"] for r in page.items]
        assert sorted(seen) == [f"s{i:03d}" for i in range(1, 120, 2)]  # each match once
    finally:
        store.close()


async def test_the_reader_leaves_a_peer_that_falls_behind_when_another_holds_the_block_it_waits_for(caplog):
    import asyncio
    import logging

    from fabric_gateway.aio.deliver import BlockReader

    chain = registry_blocks()
    closed = []

    class Peers(BlockReader):
        async def _stream(self, index, start, stop):
            try:
                for b in chain[start:stop + 1]:
                    if index == 0 and b.header.number >= 2:
                        await asyncio.Event().wait()  # peer 0 lost its orderer after block 1
                    yield b
            finally:
                closed.append(index)

    reader = Peers(["peer0:7051", "peer1:7051"], signing=None, channel_id="tdses", min_delay=0.01)
    held = [len(chain) - 1]  # what the caller knows another peer holds
    caplog.set_level(logging.INFO, logger="fabric_gateway")
    got = [b.header.number async for b in reader.blocks(0, 3, stall=0.05,
                                                         held_elsewhere=lambda n: n <= held[0])]
    assert got == [0, 1, 2, 3] and closed[0] == 0
    assert "reading block 2 from peer0:7051: no block 2 for 0.05 s while another peer held it" in caplog.text
    assert reader.endpoints[reader._config.attempt_order()[0]].address == "peer1:7051"  # now the one tried first

    held[0] = 1  # nobody is known to hold block 2: peer 0 is waited for, not left
    waiting = asyncio.ensure_future(anext(Peers(["peer0:7051", "peer1:7051"], signing=None, channel_id="tdses")
                                          .blocks(2, 3, stall=0.05, held_elsewhere=lambda n: n <= held[0])))
    done, _ = await asyncio.wait({waiting}, timeout=0.3)
    assert not done
    waiting.cancel()


async def test_a_live_follower_leaves_a_peer_that_falls_behind(store, monkeypatch):
    import asyncio

    from fabric_gateway.aio.deliver import BlockReader
    from tdses.index import follower as following

    chain = registry_blocks()

    class Peers(BlockReader):
        async def _stream(self, index, start, stop):
            for b in chain[start:stop + 1]:
                if index == 0 and b.header.number >= 2:
                    await asyncio.Event().wait()  # peer 0 lost its orderer after block 1
                yield b
            await asyncio.Event().wait()  # live: no block after the last

    following_peers = following.Follower(lambda: store, Peers(["peer0:7051", "peer1:7051"], None, "tdses"), CC)
    following_peers.held_elsewhere = lambda number: number < len(chain)
    monkeypatch.setattr(following, "STALL_SECONDS", 0.05)
    following_peers.start()
    try:
        assert await following_peers.wait_for_block(len(chain) - 1, timeout=5)
    finally:
        await following_peers.close()


async def test_the_reader_keeps_a_peer_that_sends_the_block_soon_after_another_peer_holds_it(caplog):
    import asyncio
    import logging

    from fabric_gateway.aio.deliver import BlockReader

    chain = registry_blocks()
    held = asyncio.Event()  # the reader has been told that another peer holds block 2

    class Peers(BlockReader):
        async def _stream(self, index, start, stop):
            for b in chain[start:stop + 1]:
                if b.header.number == 2:
                    await held.wait()  # peer 0 sends block 2 just after another peer is known to hold it
                yield b

    def held_elsewhere(number: int) -> bool:
        if number == 2:
            held.set()
        return True

    caplog.set_level(logging.INFO, logger="fabric_gateway")
    reader = Peers(["peer0:7051", "peer1:7051"], signing=None, channel_id="tdses")
    got = [b.header.number async for b in reader.blocks(0, 3, stall=0.5, held_elsewhere=held_elsewhere)]
    assert got == [0, 1, 2, 3] and "reading block" not in caplog.text
