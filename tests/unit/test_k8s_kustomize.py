"""kustomize: pinned once in k8s/toolchain/go.mod, installed into the cache, clear when a build fails."""

from __future__ import annotations

import pytest

from tdses.k8s import kustomize
from tdses.k8s.errors import KubernetesError
from tdses.paths import CACHE_DIR


def test_the_version_is_the_one_go_mod_pins_and_names_the_cache_directory():
    go_mod = (kustomize.TOOLCHAIN / "go.mod").read_text()
    assert f"tool {kustomize.MODULE}" in go_mod
    version = kustomize.version()
    assert f"{kustomize.MODULE} {version}" in go_mod
    assert kustomize.binary() == CACHE_DIR / f"kustomize-{version}" / "kustomize"


def test_building_a_directory_without_a_kustomization_is_a_clear_error(tmp_path):
    with pytest.raises(KubernetesError, match="no kustomization.yaml"):
        kustomize.build(tmp_path)


def test_a_failing_build_reports_kustomizes_message(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(KubernetesError, match="kustomize build .* failed: .*missing.yaml"):
        kustomize.build(tmp_path)
