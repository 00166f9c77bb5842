"""A generated kustomize Component: the per-deployment pieces an overlay adds to the static base.

It collects workload instances, ConfigMaps, Secrets (from files, each file one key), patches and image
tags, and writes them as <dir>/kustomization.yaml with the files beside it. Secret material is written
with mode 0600 in a 0700 directory.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import yaml


class Component:
    def __init__(self, directory: Path):
        self.dir = directory
        self.resources: list[str] = []
        self.config_maps: list[dict] = []
        self.secrets: list[dict] = []
        self.patches: list[str] = []
        self.images: list[dict] = []
        self.dir.mkdir(mode=0o700, parents=True)

    def instance(self, name: str, template: Path, suffix: str) -> None:
        """One workload made from a template kustomization (name + suffix, e.g. peer + 0 = peer0)."""
        where = self.dir / "instances" / name
        where.mkdir(parents=True)
        _write_yaml(where / "kustomization.yaml", {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(template, where)],
            "nameSuffix": suffix,
            "labels": [{"pairs": {"app.kubernetes.io/instance": name}, "includeSelectors": True,
                        "includeTemplates": True}],
        })
        self.resources.append(f"instances/{name}")

    def config_map(self, name: str, files: dict[str, str]) -> None:
        self.config_maps.append({"name": name, "files": self._files("config", name, files, secret=False)})

    def secret(self, name: str, files: dict[str, Path | str | bytes]) -> None:
        self.secrets.append({"name": name, "type": "Opaque", "files": self._files("secrets", name, files, secret=True)})

    def directory_secret(self, name: str, directories: dict[str, Path]) -> list[dict]:
        """A Secret holding every file under the directories; return the volume items that rebuild the tree."""
        files: dict[str, Path] = {}
        items = []
        for prefix, root in directories.items():
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                mount_path = f"{prefix}/{path.relative_to(root).as_posix()}"
                key = secret_key(mount_path)
                assert key not in files, f"two files of Secret {name} map to key {key}"
                files[key] = path
                items.append({"key": key, "path": mount_path})
        self.secret(name, files)
        return items

    def patch(self, body: dict) -> None:
        name = f"patches/{body['kind'].lower()}-{body['metadata']['name']}.yaml"
        (self.dir / "patches").mkdir(exist_ok=True)
        _write_yaml(self.dir / name, body)
        self.patches.append(name)

    def image(self, name: str, tag: str, registry: str | None = None) -> None:
        entry = {"name": name, "newTag": tag}
        if registry:
            entry["newName"] = f"{registry.rstrip('/')}/{name}"
        self.images.append(entry)

    def _files(self, kind: str, name: str, files: dict, secret: bool) -> list[str]:
        where = self.dir / kind / name
        where.mkdir(mode=0o700, parents=True)
        refs = []
        for key, content in files.items():
            target = where / key
            data = content.read_bytes() if isinstance(content, Path) else content
            if secret:
                target.touch(mode=0o600)
            target.write_bytes(data if isinstance(data, bytes) else data.encode())
            refs.append(f"{key}={kind}/{name}/{key}")
        return refs

    def write(self) -> Path:
        body = {"apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component"}
        for field, value in (("resources", self.resources), ("configMapGenerator", self.config_maps),
                             ("secretGenerator", self.secrets), ("images", self.images)):
            if value:
                body[field] = value
        if self.patches:
            body["patches"] = [{"path": p} for p in self.patches]
        _write_yaml(self.dir / "kustomization.yaml", body)
        return self.dir


KEY_CHARACTERS = re.compile(r"[^-._a-zA-Z0-9]")
MAX_KEY_LENGTH = 253


def secret_key(file_path: str) -> str:
    """A valid Secret/ConfigMap key for a file path: msp/signcerts/Admin@org1.tdses.test-cert.pem ->
    msp.signcerts.Admin_org1.tdses.test-cert.pem.3f2a9c1e.

    Keys allow only letters, digits, '-', '_' and '.', so '/' becomes '.' and anything else '_'; a path
    that needed the second replacement gets the start of its digest appended, so that no two paths share a
    key. The volume's items map the key back to the path.
    """
    key = file_path.replace("/", ".")
    valid = KEY_CHARACTERS.sub("_", key)
    if valid == key and len(key) <= MAX_KEY_LENGTH and not key.startswith(".."):
        return key
    digest = hashlib.sha256(file_path.encode()).hexdigest()[:8]
    return f"{valid.lstrip('.')[:MAX_KEY_LENGTH - 9]}.{digest}"


def _write_yaml(path: Path, body: dict) -> None:
    path.write_text("# Generated by `tdses k8s render`: edit network-config/ or k8s/, not this file.\n"
                    + yaml.safe_dump(body, sort_keys=False))
