"""The answers of GET /v1/services/{name}, rendered once and kept until the index changes what they show: the
registry's most frequent read costs a dictionary lookup, not a query and a serialization.

    cards = ServiceCards()
    body = cards.get(store, "weather-api")   # JSON bytes, or None when the index does not hold the service
"""

from __future__ import annotations

from typing import Any

from tdses.index.store import IndexStore
from tdses.rest.models.responses import ServiceListing

CARDS_KEPT = 50_000  # services kept at most; past it the cache starts over


def listing(row: dict[str, Any], components: list[str]) -> dict[str, Any]:
    """An index row in the chaincode's shape, with the service's tallies (as searches list it)."""
    return {"name": row["name"], "developer": row["developer"], "category": row["category"],
            "description": row["description"], "url": row["url"], "price": row["price"],
            "qos": {"latencyMs": row["latency_ms"], "availabilityBp": row["availability_bp"]},
            "status": row["status"], "requireVouchers": row["require_vouchers"], "mashup": row["mashup"],
            "components": components, "createdAt": row["created_at"], "updatedAt": row["updated_at"],
            "callsBought": int(row["calls_bought"]), "compositions": int(row["compositions"])}


def render(card: dict[str, Any]) -> bytes:
    """IndexStore.service's answer as JSON, exactly as the route's response model would serialize it."""
    return ServiceListing.model_validate(listing(card, card["components"])).model_dump_json().encode()


class ServiceCards:
    def __init__(self) -> None:
        self._store: IndexStore | None = None
        self._cards: dict[str, tuple[int, bytes]] = {}

    def kept(self, store: IndexStore, name: str) -> bytes | None:
        """The answer kept, if still current: no database read (on the event loop)."""
        if store is not self._store:  # the follower opened its store again: nothing kept is known to be current
            self._store, self._cards = store, {}
        kept = self._cards.get(name)
        if kept is not None and store.unchanged_since(name, kept[0]):
            return kept[1]
        return None

    def get(self, store: IndexStore, name: str) -> bytes | None:
        """The answer, kept or read from the index (blocking: off the event loop)."""
        body = self.kept(store, name)
        if body is not None:
            return body
        generation = store.generation  # before reading: a block applied meanwhile makes this entry stale
        card = store.service(name)
        if card is None:
            return None
        body = render(card)
        if len(self._cards) >= CARDS_KEPT:
            self._cards.clear()
        self._cards[name] = (generation, body)
        return body
