"""What the pages share to act and read: the chaincode as the signed-in person (the same facade and invoker as the
API's routes), the index once it holds the page's last write, and form fields as the API's request models want."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

from fastapi import Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import MutableHeaders

from tdses.chaincode import Chaincode
from tdses.index.store import IndexStore
from tdses.rest.api.deps import indexed
from tdses.rest.api.transact import Transacting
from tdses.rest.middleware import idempotency
from tdses.rest.headers import BLOCK_HEADER
from tdses.rest.problems import Problem
from tdses.rest.services.context import Context
from tdses.rest.web.render import see_other
from tdses.rest.web.sessions import Visitor


NOTICES = {
    "bought": "Your calls are bought.", "rewarded": "The developer has your reward.",
    "published": "The service is available.", "invalidated": "The service is withdrawn.",
    "registered": "The service is registered: publish it to sell calls.", "edited": "The service is changed.",
    "composed": "Your mashup is created and its components are paid.", "token": "Your API token is new.",
}


class Acting:
    """The chaincode as the visitor; after a write, `done()` redirects to a page that waits for its block."""

    def __init__(self, context: Context, visitor: Visitor) -> None:
        self.headers = MutableHeaders()  # what a write sets: its block, for done()
        self.chaincode = Chaincode(Transacting(context, visitor.principal, self.headers))

    def done(self, path: str, notice: str) -> RedirectResponse:
        """To path, with a notice named in NOTICES (a name, not a text: links cannot put words in our pages)."""
        assert notice in NOTICES
        query = {"done": notice}
        block = self.headers.get(BLOCK_HEADER)
        if block is not None:
            query["block"] = block
        return see_other(f"{path}?{urlencode(query)}")


ONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
DIGITS = re.compile(r"[0-9]{1,18}")  # within int64, as the chaincode parses


@contextmanager
def paying_once(form, visitor: Visitor, *payment: object) -> Iterator[None]:
    """A payment form sent again (a double click, a replay) pays once: its one-time key and what it pays fix the
    transaction IDs, as an Idempotency-Key and its request do for the API, and the ledger answers the second time
    from the first's transaction. The same key with another payment is another request."""
    key = str(form.get("once") or "")
    if not ONCE.fullmatch(key):
        raise Problem(422, "INVALID_ARGUMENT", "the form has no one-time key: reload the page and send it again")
    what = hashlib.sha256(json.dumps(payment).encode()).hexdigest()[:32]
    with idempotency.as_request(visitor.name, f"web-form:{key}:{what}"):
        yield


async def index_at(context: Context, block: int | None) -> IndexStore:
    """The registry index once it holds `block` (a write's, passed on by done()): read-your-writes."""
    return await indexed(context, Response(), None, block)


def integer(form, field: str, *, required: bool = True) -> int | None:
    """A form's count, price or amount: ASCII digits only (int() would take other scripts' digits, underscores
    and a sign); the model or the chaincode bounds it further."""
    text = str(form.get(field) or "").strip()
    if not text and not required:
        return None
    if not DIGITS.fullmatch(text):
        raise Problem(422, "INVALID_ARGUMENT", f"{field} must be a whole number, 0 or more")
    return int(text)


def one_line(text: str) -> str:
    """A textarea's text as the registry keeps texts, on one line: each line break becomes a space."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def service_fields(form, *, with_name: bool) -> dict:
    """A service's form as ServiceCreate / ServicePatch read it: fields left empty or absent are left out, but for
    the description, which an empty textarea clears."""
    fields = {key: str(form.get(key, "")).strip() for key in ("category", "url")}
    fields = {key: value for key, value in fields.items() if value}
    if "description" in form:
        fields["description"] = one_line(str(form["description"]))
    if with_name:
        fields["name"] = str(form.get("name", "")).strip()
    price = integer(form, "price", required=with_name)
    if price is not None:
        fields["price"] = price
    latency, availability = integer(form, "latencyMs", required=False), integer(form, "availabilityBp",
                                                                                 required=False)
    qos = {key: value for key, value in (("latencyMs", latency), ("availabilityBp", availability)) if value is not None}
    if qos:
        fields["qos"] = qos
    return fields
