"""The rooms of the Python code depend on each other in one direction only (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"

# package -> the tdses modules it must never import (a prefix forbids the module and everything below it)
FORBIDDEN = {
    "fabric_gateway": ["tdses", "fabric_ca"],  # client libraries know nothing of this project
    "fabric_ca": ["tdses", "fabric_gateway"],
    # The deployment model is what both runners deploy: it knows neither of them, nor who uses the network.
    "tdses.fabric": ["tdses.local", "tdses.k8s", "tdses.rest", "tdses.ecosystem", "tdses.metering"],
    "tdses.local": ["tdses.k8s", "tdses.rest", "tdses.ecosystem", "tdses.metering"],
    "tdses.k8s": ["tdses.local", "tdses.rest", "tdses.ecosystem", "tdses.metering"],
    "tdses.rest": ["tdses.k8s", "tdses.ecosystem", "tdses.local"],
    # The API does not depend on its web pages; the pages reach the chain only through the chaincode facade over the
    # API's own invoker (no second path: no Fabric client, no ledger or signing service of their own).
    "tdses.rest.api": ["tdses.rest.web", "tdses.k8s", "tdses.ecosystem", "tdses.local"],
    "tdses.rest.web": ["fabric_gateway", "fabric_ca", "tdses.rest.services.ledger", "tdses.rest.services.signing",
                       "tdses.rest.services.invokers", "tdses.k8s", "tdses.ecosystem", "tdses.local"],
    # The registry index is fed by blocks and read by the gateway; only its command line reads a gateway's settings.
    "tdses.index": ["tdses.k8s", "tdses.ecosystem", "tdses.local", "tdses.metering"],
    # Service servers need no Fabric client: they ask their organization's gateway, over HTTP.
    "tdses.metering": ["fabric_gateway", "fabric_ca", "tdses.rest", "tdses.fabric", "tdses.local", "tdses.k8s",
                       "tdses.ecosystem"],
    # The one retry policy: over the client library and the chaincode's vocabulary, for every caller alike.
    "tdses.retry": ["tdses.fabric", "tdses.local", "tdses.k8s", "tdses.rest", "tdses.ecosystem", "tdses.metering",
                    "fabric_ca"],
    # The chaincode as Python sees it: its vocabulary and typed calls, over any way of reaching the peers.
    "tdses.chaincode": ["tdses.fabric", "tdses.local", "tdses.k8s", "tdses.rest", "tdses.ecosystem", "tdses.metering",
                        "fabric_gateway", "fabric_ca"],
    # Loopback ports: used by both runners, knowing neither.
    "tdses.ports": ["tdses.fabric", "tdses.local", "tdses.k8s", "tdses.rest", "tdses.ecosystem", "tdses.metering",
                    "tdses.index", "fabric_gateway", "fabric_ca"],
    # The build cache's lock and staging: for every installer, knowing none of them.
    "tdses.buildcache": ["tdses.fabric", "tdses.local", "tdses.k8s", "tdses.rest", "tdses.ecosystem",
                         "tdses.metering", "tdses.index", "fabric_gateway", "fabric_ca"],
    # Pure algorithms over plain data: whoever holds the services and purchases (an index, REST) calls them.
    "tdses.discovery": ["tdses.rest", "tdses.fabric", "tdses.local", "tdses.k8s", "tdses.ecosystem", "tdses.metering",
                        "tdses.chaincode", "fabric_gateway", "fabric_ca"],
}


def module_name(path: Path) -> str:
    parts = path.relative_to(GATEWAY).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    found = set()
    package = module_name(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def modules_of(package: str) -> list[Path]:
    root = GATEWAY.joinpath(*package.split("."))
    return sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_room_imports_what_its_layer_must_not(package):
    broken = [
        f"{module_name(path)} imports {name}"
        for path in modules_of(package)
        for name in sorted(imports(path))
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[package])
    ]
    assert broken == []


def test_the_check_sees_a_forbidden_import(tmp_path, monkeypatch):
    module = tmp_path / "fabric_gateway" / "leak.py"
    module.parent.mkdir()
    module.write_text("from tdses.rest.store import Store\nfrom . import connection\n")
    monkeypatch.setattr(__import__(__name__), "GATEWAY", tmp_path)
    assert {"tdses.rest.store", "tdses.rest.store.Store", "fabric_gateway.connection"} <= imports(module)
