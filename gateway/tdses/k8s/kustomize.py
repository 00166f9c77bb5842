"""kustomize: installed from the Go module proxy into the cache, then used to build an overlay.

k8s/toolchain/go.mod pins the release with a `tool` line (like network-config/toolchain/*), so the
version is written once, there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tdses import buildcache
from tdses.fabric import toolchain
from tdses.k8s.errors import KubernetesError
from tdses.paths import CACHE_DIR, REPO_ROOT

TOOLCHAIN = REPO_ROOT / "k8s" / "toolchain"
MODULE = "sigs.k8s.io/kustomize/kustomize/v5"


def version() -> str:
    """The kustomize release go.mod pins, e.g. v5.8.2."""
    match = re.search(rf"^\s*{re.escape(MODULE)} (v\S+)", (TOOLCHAIN / "go.mod").read_text(), re.MULTILINE)
    if not match:
        raise KubernetesError(f"{TOOLCHAIN / 'go.mod'} does not require {MODULE}")
    return match.group(1)


def binary() -> Path:
    return CACHE_DIR / f"kustomize-{version()}" / "kustomize"


def install(out=sys.stderr) -> Path:
    """Build kustomize unless the cache has it; return its path."""
    target = binary()
    if target.is_file():
        return target
    toolchain._go_version()  # a clear error when Go is missing
    buildcache.ensure(target.parent, target.is_file, lambda staging: _build(target.parent, staging, out), out)
    return target


def _build(entry: Path, into: Path, out) -> None:
    print(f"building kustomize {version()} from Go modules into {entry}", file=out, flush=True)
    result = subprocess.run(
        ["go", "install", "-trimpath", "tool"],
        cwd=TOOLCHAIN,
        env={**os.environ, "GOBIN": str(into), "CGO_ENABLED": "0"},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 or not (into / "kustomize").is_file():
        raise KubernetesError(f"building kustomize failed:\n{result.stderr.strip()[-3000:]}")


def build(overlay: Path) -> list[dict]:
    """`kustomize build overlay`, parsed: the objects an overlay produces."""
    if not (overlay / "kustomization.yaml").is_file():
        raise KubernetesError(f"no kustomization.yaml in {overlay}")
    result = subprocess.run([str(install()), "build", str(overlay)], capture_output=True, text=True)
    if result.returncode != 0:
        raise KubernetesError(f"kustomize build {overlay} failed: {result.stderr.strip()[-3000:]}")
    try:
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    except yaml.YAMLError as exc:
        raise KubernetesError(f"kustomize build {overlay} printed malformed YAML: {exc}") from None
