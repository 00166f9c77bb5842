"""The ProgrammableWeb ecosystem as chaincode services: read the three data files and normalize every record.

    eco = load(data_dir())                      # 23,579 APIs, 7,766 mashups, deterministic everywhere
    eco.select(limit=60)                        # the first 60 APIs and the mashups composed only of them

Pure and deterministic: the same files give the same names, owners and prices on every machine and run, and
`select` never renames anything (names are decided over the whole data set), so a small import can later be
extended to the whole ecosystem on the same network.
"""

from __future__ import annotations

import csv
import hashlib
import html
import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tdses.chaincode.text import INVISIBLE, unprintable
from tdses.paths import REPO_ROOT

API_FILE = "api_nodes_estimator.csv"
MASHUP_FILE = "mashup_nodes_estimator.csv"
EDGE_FILE = "m-a_edges.csv"

ALIVE = "2222-02-22"  # the data's "no dead date"
SITE = "https://www.programmableweb.com"
DEFAULT_DEVELOPERS = 100
DEVELOPER_PREFIX = "pw-dev-"

# The chaincode's rules (chaincode/README.md, validate.go).
MAX_NAME = 64
MAX_CATEGORY = 64
MAX_TEXT = 1024
MAX_URL = 512
MAX_COMPONENTS = 32
PRICES = range(1, 6)
LATENCY_MS = range(20, 1001)
AVAILABILITY_BP = range(9_000, 10_001)
SUFFIX_HEX = 6

# Letters NFKD does not decompose into ASCII.
_FOLD = str.maketrans({
    "ı": "i", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ß": "ss", "đ": "d", "Đ": "D",
    "ł": "l", "Ł": "L", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D", "&": "-and-",
})
_MOJIBAKE_LEADS = str.maketrans("âãäå", "ÂÃÄÅ")  # UTF-8 lead bytes C2..C5 shown as cp1252, lower-cased
_NOT_NAME = re.compile(r"[^a-z0-9._-]+")
_DASHES = re.compile(r"-{2,}")
# What Go's url.Parse accepts without complaint, conservatively: a plain host, printable ASCII, valid escapes.
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?")
_URL_REST = re.compile(r"(?:[!#$&-;=?-~]|%[0-9A-Fa-f]{2})*")


def data_dir() -> Path:
    """$TDSES_PROGRAMMABLEWEB_DIR, or ../shared/data/programmableweb next to the repository."""
    default = REPO_ROOT.parent / "shared" / "data" / "programmableweb"
    return Path(os.environ.get("TDSES_PROGRAMMABLEWEB_DIR", default))


def developer_name(index: int) -> str:
    return f"{DEVELOPER_PREFIX}{index + 1:03d}"


def stable_hash(*parts: str) -> int:
    """A 64-bit number from the parts: the same everywhere (unlike hash(), which Python salts per process)."""
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def short_hash(key: str, length: int = SUFFIX_HEX) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:length]


# --- text --------------------------------------------------------------------------------------------------


def repair_mojibake(text: str) -> str:
    """UTF-8 that was read as cp1252/latin-1 once ("CafÃ©" → "Café"); anything else is returned unchanged."""
    if text.isascii():
        return text
    # A lower-cased url slug has lower-cased lead bytes too ("allocinã©" for "allocinÃ©"): try those upper-cased.
    for candidate in (text, text.translate(_MOJIBAKE_LEADS)):
        for codec in ("cp1252", "latin-1"):
            try:
                return candidate.encode(codec).decode("utf-8")
            except UnicodeError:
                continue
    return text


def clean_text(text: str, limit: int) -> str:
    """Free text the chaincode accepts (tdses.chaincode.text): HTML entities decoded, no control, invisible or
    replacement characters, at most `limit` characters, single spaces."""
    text = repair_mojibake(html.unescape(text))
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Zs", "Zl", "Zp") else c for c in text)
    text = "".join(c for c in text if not unprintable(c) and c not in INVISIBLE)
    return " ".join(text.split())[:limit].rstrip()


def fold_name(text: str) -> str:
    """A chaincode name from any text: ASCII letters folded from accents, other characters → '-', lower case,
    starting with a letter or digit, at most 64 characters. May be empty."""
    text = unicodedata.normalize("NFKD", repair_mojibake(text).translate(_FOLD))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = _DASHES.sub("-", _NOT_NAME.sub("-", text.lower()))
    text = text.lstrip("._-")[:MAX_NAME]
    return text.rstrip("._-")


def valid_name(name: str) -> bool:
    return (0 < len(name) <= MAX_NAME and name.isascii() and name[0].isalnum()
            and all(c.isalnum() or c in "._-" for c in name))


def chaincode_url(url: str) -> str | None:
    """`url` if the chaincode (Go's url.Parse) takes it as an absolute http(s) URL, with the scheme lower-cased;
    None otherwise."""
    url = url.strip()
    if len(url) > MAX_URL or not url.isascii():
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not _HOST.fullmatch(parts.netloc):
        return None
    rest = url[len(parts.scheme) + 3 + len(parts.netloc):]
    if not _URL_REST.fullmatch(rest):
        return None
    return parts.scheme.lower() + url[len(parts.scheme):]


# --- records -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    """One API or mashup of the data, ready for the chaincode. `key` is its unique id in the data (an API's
    url, a mashup's name); name, owner and price are derived from it."""

    key: str
    kind: str  # "api" or "mashup"
    name: str
    title: str
    category: str
    description: str
    url: str
    price: int
    developer: str
    submitted: str
    dead_since: str | None
    components: tuple[str, ...] = ()
    latency_ms: int = 0
    availability_bp: int = 0

    @property
    def alive(self) -> bool:
        return self.dead_since is None

    @property
    def composed(self) -> bool:
        """A mashup with at least one known component, created with CreateMashup (others are plain services)."""
        return bool(self.components)

    def spec(self) -> dict:
        """The JSON argument of RegisterService, or of CreateMashup when the service has components."""
        spec = {"name": self.name, "category": self.category, "description": self.description, "url": self.url,
                "price": self.price, "qos": {"latencyMs": self.latency_ms, "availabilityBp": self.availability_bp}}
        if self.components:
            spec["components"] = list(self.components)
        return spec


@dataclass
class Report:
    """What normalization noticed in the data (counts for the import summary and the tests)."""

    apis: int = 0
    mashups: int = 0
    edges: int = 0
    duplicate_api_names: int = 0
    non_ascii_names: int = 0
    renamed_on_collision: list[tuple[str, str]] = field(default_factory=list)  # (key, name)
    dead: int = 0
    duplicate_edges: int = 0
    edges_to_missing_apis: list[tuple[str, str]] = field(default_factory=list)  # (mashup, api url)
    edges_from_missing_mashups: list[tuple[str, str]] = field(default_factory=list)  # (mashup name, api url)
    mashups_without_components: int = 0
    components_truncated: list[str] = field(default_factory=list)  # mashup names
    components_dropped: int = 0  # beyond MAX_COMPONENTS
    mashup_urls_replaced: list[str] = field(default_factory=list)  # mashup names


@dataclass
class Ecosystem:
    """The normalized data: `apis` in file order, then `mashups` in file order (composed or plain)."""

    apis: list[Service]
    mashups: list[Service]
    developers: list[str]
    report: Report

    @property
    def services(self) -> list[Service]:
        return self.apis + self.mashups

    def select(self, limit: int | None = None) -> list[Service]:
        """Everything (limit None), or the first `limit` APIs and the composed mashups whose components are all
        among them (mashups without a known component belong to no slice)."""
        if limit is None:
            return self.services
        apis = self.apis[:limit]
        chosen = {s.name for s in apis}
        return apis + [m for m in self.mashups if m.components and set(m.components) <= chosen]


NODE_COLUMNS = ("url", "name", "st", "et", "c")  # what normalize() reads of an API or a mashup
EDGE_COLUMNS = ("source", "target")


def read_rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of a tab-separated file; ValueError naming the file and line when a column or a field is missing.
    A field may be quoted as CSV quotes it, as four mashup names are (e.g. "Mashup: #docs (""pound docs"")")."""
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        missing = [c for c in columns if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path} has no column {', '.join(missing)} (its header: {reader.fieldnames})")
        rows = list(reader)
    for number, row in enumerate(rows, 2):
        if any(row[c] is None for c in columns):
            raise ValueError(f"{path} line {number} has fewer fields than its header")
    return rows


def _owner(key: str, developers: list[str]) -> str:
    return developers[stable_hash("owner", key) % len(developers)]


def _price(key: str) -> int:
    return PRICES[stable_hash("price", key) % len(PRICES)]


def _qos(key: str) -> tuple[int, int]:
    """The data has no QoS: a stand-in so that QoS search and composition have something to work on, derived
    from the key like the price — 20..1000 ms latency, 90.00..100.00 % availability."""
    latency = LATENCY_MS.start + stable_hash("latency", key) % len(LATENCY_MS)
    availability = AVAILABILITY_BP.start + stable_hash("availability", key) % len(AVAILABILITY_BP)
    return latency, availability


def _composed_qos(parts: list[Service]) -> tuple[int, int]:
    """A mashup calls its components one after another: latencies add up, availabilities multiply."""
    latency, availability = 0, 10_000
    for part in parts:
        latency += part.latency_ms
        availability = availability * part.availability_bp // 10_000
    return latency, availability


def _category(text: str) -> str:
    text = clean_text(text, MAX_CATEGORY)
    return "Uncategorized" if text in ("", "None") else text  # the data writes a missing category as "None"


def _description(title: str, kind: str, row: dict[str, str]) -> str:
    what = "API" if kind == "api" else "mashup"
    dead = "" if row["et"] == ALIVE else f", dead since {row['et']}"
    return clean_text(f"{title} — ProgrammableWeb {what}, listed {row['st']}{dead}", MAX_TEXT)


def _title(row: dict[str, str], kind: str) -> str:
    name = row["name"]
    if kind == "api":
        name = name.removesuffix(" MASTER RECORD")
    else:
        name = name.removeprefix("Mashup: ")
    return clean_text(name, MAX_TEXT - 100) or row["url"]


def _assign_names(candidates: list[tuple[str, str]]) -> dict[str, str]:
    """(key, base name) in priority order → key: unique name. The first claimant of a base keeps it; every
    later one gets '-' and a short hash of its key (longer if even that is taken)."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    later: list[tuple[str, str]] = []
    for key, base in candidates:
        if base and base not in taken:
            names[key] = base
            taken.add(base)
        else:
            later.append((key, base))
    for key, base in later:
        for length in range(SUFFIX_HEX, 65, 2):
            suffix = short_hash(key, length)
            stem = base[: MAX_NAME - len(suffix) - 1].rstrip("._-")
            name = f"{stem}-{suffix}" if stem else f"s{suffix}"
            if name not in taken:
                break
        names[key] = name
        taken.add(name)
    return names


def normalize(api_rows: list[dict[str, str]], mashup_rows: list[dict[str, str]], edge_rows: list[dict[str, str]],
              developers: int = DEFAULT_DEVELOPERS) -> Ecosystem:
    if developers < 1:
        raise ValueError("at least one developer is needed")
    devs = [developer_name(i) for i in range(developers)]
    report = Report(apis=len(api_rows), mashups=len(mashup_rows), edges=len(edge_rows))
    name_counts = Counter(r["name"] for r in api_rows)
    report.duplicate_api_names = sum(1 for n, c in name_counts.items() if c > 1)
    report.non_ascii_names = sum(1 for r in api_rows + mashup_rows if not r["name"].isascii())

    candidates = [(r["url"], fold_name(unquote(r["url"].removeprefix("/api/")))) for r in api_rows]
    candidates += [(r["name"], fold_name(html.unescape(r["name"].removeprefix("Mashup: ")))) for r in mashup_rows]
    names = _assign_names(candidates)
    report.renamed_on_collision = [(key, names[key]) for key, base in candidates if names[key] != base]

    apis = []
    for r in api_rows:
        title = _title(r, "api")
        apis.append(Service(
            key=r["url"], kind="api", name=names[r["url"]], title=title,
            category=_category(r["c"]), description=_description(title, "api", r),
            url=SITE + r["url"], price=_price(r["url"]), developer=_owner(r["url"], devs),
            submitted=r["st"], dead_since=None if r["et"] == ALIVE else r["et"],
            latency_ms=_qos(r["url"])[0], availability_bp=_qos(r["url"])[1],
        ))
    by_name = {s.name: s for s in apis}
    api_names = {s.key: s.name for s in apis}

    components: dict[str, list[str]] = {r["name"]: [] for r in mashup_rows}
    for e in edge_rows:
        mashup, target = e["source"], e["target"]
        if mashup not in components:
            report.edges_from_missing_mashups.append((mashup, target))
            continue
        if target not in api_names:
            report.edges_to_missing_apis.append((mashup, target))
            continue
        if api_names[target] in components[mashup]:
            report.duplicate_edges += 1
            continue
        components[mashup].append(api_names[target])

    mashups = []
    for r in mashup_rows:
        key, title = r["name"], _title(r, "mashup")
        parts = components[key]
        if len(parts) > MAX_COMPONENTS:
            report.components_truncated.append(key)
            report.components_dropped += len(parts) - MAX_COMPONENTS
            parts = parts[:MAX_COMPONENTS]
        if not parts:
            report.mashups_without_components += 1
        url = chaincode_url(r["url"])
        if url is None:
            report.mashup_urls_replaced.append(key)
            url = f"{SITE}/mashup/{names[key]}"
        latency, availability = _composed_qos([by_name[p] for p in parts]) if parts else _qos(key)
        mashups.append(Service(
            key=key, kind="mashup", name=names[key], title=title,
            category=_category(r["c"]), description=_description(title, "mashup", r),
            url=url, price=_price(key), developer=_owner(key, devs),
            submitted=r["st"], dead_since=None if r["et"] == ALIVE else r["et"], components=tuple(parts),
            latency_ms=latency, availability_bp=availability,
        ))
    report.dead = sum(1 for s in apis + mashups if not s.alive)
    return Ecosystem(apis, mashups, devs, report)


def load(directory: Path | None = None, developers: int = DEFAULT_DEVELOPERS) -> Ecosystem:
    directory = directory or data_dir()
    missing = [f for f in (API_FILE, MASHUP_FILE, EDGE_FILE) if not (directory / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{directory} has no {', '.join(missing)} (set --data or $TDSES_PROGRAMMABLEWEB_DIR)")
    return normalize(read_rows(directory / API_FILE, NODE_COLUMNS),
                     read_rows(directory / MASHUP_FILE, NODE_COLUMNS),
                     read_rows(directory / EDGE_FILE, EDGE_COLUMNS), developers)
