"""Build the Fabric binaries from Go modules, once per version, into a cache directory.

Each toolchain (network-config/toolchain/<name>/) is a Go module whose go.mod pins a Fabric release and
lists the commands to build as `tool` lines. Binaries go to <cache>/<name>-<release>-<digest>/bin, where
the digest covers go.mod, go.sum and the Go version: a second install of the same versions costs nothing.
Another folder laid out the same way (k8s/controlplane/: Kubernetes and kwok) is built by the same code.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from tdses import buildcache
from tdses.fabric.errors import NetworkError
from tdses.paths import CACHE_DIR, NETWORK_CONFIG

TOOLCHAIN_DIR = NETWORK_CONFIG / "toolchain"


@dataclass(frozen=True)
class Toolchain:
    name: str
    module: str
    release: str
    commit: str
    version_var: str
    commit_var: str
    cgo: bool
    binaries: tuple[str, ...]
    root: Path = TOOLCHAIN_DIR
    # Go names a command after its package (go.etcd.io/etcd/server/v3 -> server): the name to give it instead.
    renames: tuple[tuple[str, str], ...] = ()

    @property
    def source(self) -> Path:
        return self.root / self.name

    def bin_dir(self) -> Path:
        digest = hashlib.sha256()
        for f in ("go.mod", "go.sum"):
            digest.update((self.source / f).read_bytes())
        digest.update(_go_version().encode())
        return CACHE_DIR / f"{self.name}-{self.release}-{digest.hexdigest()[:12]}" / "bin"

    def installed(self) -> bool:
        return all((self.bin_dir() / b).is_file() for b in self.binaries)


def toolchains(directory: Path = TOOLCHAIN_DIR) -> list[Toolchain]:
    spec = yaml.safe_load((directory / "toolchain.yaml").read_text())
    return [
        Toolchain(
            name=name,
            module=entry["module"],
            release=str(entry["release"]),
            commit=entry.get("commit", ""),
            version_var=entry.get("version_var", ""),
            commit_var=entry.get("commit_var", ""),
            cgo=bool(entry["cgo"]),
            binaries=tuple(entry["binaries"]),
            root=directory,
            renames=tuple((entry.get("renames") or {}).items()),
        )
        for name, entry in spec.items()
    ]


def _go_version() -> str:
    go = shutil.which("go")
    if go is None:
        raise NetworkError("Go is not installed: the Fabric toolchain is built from Go modules (Go 1.24 or later)")
    return subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()


def _go(toolchain: Toolchain, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["go", *args], cwd=toolchain.source, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


def _check_pin(toolchain: Toolchain) -> None:
    """The module that will be built is the pinned release: go list -m must name its commit (or its version)."""
    result = _go(toolchain, "list", "-m", toolchain.module)
    if result.returncode != 0:
        raise NetworkError(f"cannot resolve {toolchain.module}: {result.stderr.strip()}")
    resolved = result.stdout.split()[-1]
    if toolchain.commit and not resolved.endswith(toolchain.commit):
        raise NetworkError(
            f"{toolchain.module} resolves to {resolved}, not commit {toolchain.commit} of release {toolchain.release}"
        )
    if not toolchain.commit and resolved.removeprefix("v") != toolchain.release.removeprefix("v"):
        raise NetworkError(f"{toolchain.module} resolves to {resolved}, not release {toolchain.release}")


def install(toolchain: Toolchain, out=sys.stderr) -> Path:
    """Build the toolchain's binaries unless the cache already has them; return their directory."""
    bin_dir = toolchain.bin_dir()
    if toolchain.installed():
        return bin_dir
    buildcache.ensure(bin_dir, toolchain.installed, lambda staging: _build(toolchain, bin_dir, staging, out), out)
    _progress(out, f"  {toolchain.name} {toolchain.release}: {', '.join(toolchain.binaries)}")
    print(file=out, flush=True)
    return bin_dir


def _build(toolchain: Toolchain, bin_dir: Path, staging: Path, out) -> None:
    _check_pin(toolchain)
    print(f"building {toolchain.name} {toolchain.release} from Go modules into {bin_dir}", file=out, flush=True)
    print(f"  {toolchain.name}: downloading modules (first time only)", file=out, flush=True)
    listed = _go(toolchain, "list", "-deps", "tool")
    total = len(listed.stdout.split()) if listed.returncode == 0 else 0

    ldflags = [f"-X {toolchain.version_var}={toolchain.release}"] if toolchain.version_var else []
    if toolchain.commit_var:
        ldflags.append(f"-X {toolchain.commit_var}={toolchain.commit}")
    env = {**os.environ, "GOBIN": str(staging), "CGO_ENABLED": "1" if toolchain.cgo else "0"}
    cmd = ["go", "install", "-v", "-trimpath", "-ldflags", " ".join(ldflags), "tool"]
    proc = subprocess.Popen(cmd, cwd=toolchain.source, env=env, stderr=subprocess.PIPE, text=True)
    built, shown, errors = 0, -1, []
    assert proc.stderr is not None
    for line in proc.stderr:
        line = line.rstrip()
        if line.startswith(("go: downloading", "#")) or " " in line or not line:
            errors.append(line)
            if line.startswith("go: downloading"):
                print(f"  {line}", file=out, flush=True)
            continue
        built += 1
        percent = min(99, 100 * built // total) if total else 0
        # On a terminal every package; in a log every 10%.
        if out.isatty() or percent // 10 != shown // 10:
            shown = percent
            _progress(out, f"  {toolchain.name}: compiled {built} of up to {total} packages ({percent}%)")
    if proc.wait() != 0:
        print(file=out)
        raise NetworkError(f"building {toolchain.name} failed:\n" + "\n".join(e for e in errors if e)[-4000:])
    for built_as, name in toolchain.renames:
        if (staging / built_as).is_file():
            (staging / built_as).rename(staging / name)
    missing = [b for b in toolchain.binaries if not (staging / b).is_file()]
    if missing:
        raise NetworkError(f"building {toolchain.name} produced no {', '.join(missing)}")


def _progress(out, text: str) -> None:
    if out.isatty():
        print(f"\r\033[K{text}", end="", file=out, flush=True)
    else:
        print(text, file=out, flush=True)


def install_all(out=sys.stderr) -> dict[str, Path]:
    """Install every toolchain; return binary name -> path."""
    binaries: dict[str, Path] = {}
    for toolchain in toolchains():
        bin_dir = install(toolchain, out)
        binaries.update({b: bin_dir / b for b in toolchain.binaries})
    return binaries


def binaries() -> dict[str, Path]:
    """Binary name -> path for installed toolchains; a missing binary is a NetworkError naming it."""
    found: dict[str, Path] = {}
    for toolchain in toolchains():
        for b in toolchain.binaries:
            path = toolchain.bin_dir() / b
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise NetworkError(f"missing binary {path}: run `tdses toolchain install` (or `make tools`)")
            found[b] = path
    return found
