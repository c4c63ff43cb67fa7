"""One control plane for the session; a fresh namespace (and helm home) per test."""

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.k8s.control_plane import ControlPlane, missing_binaries
from tests.k8s.helm import Helm, create_namespace


@pytest.fixture(scope="session")
def cluster() -> Iterator[ControlPlane]:
    absent = missing_binaries()
    if absent:
        pytest.skip(f"not built: {', '.join(absent)} (make k8s-e2e-tools)")
    with tempfile.TemporaryDirectory(prefix="shop-k8s-e2e-") as folder:
        plane = ControlPlane(Path(folder))
        try:
            plane.start()
            yield plane
        finally:
            plane.stop()


@pytest.fixture
def helm(cluster: ControlPlane, request: pytest.FixtureRequest, tmp_path: Path) -> Helm:
    # Namespace names: lowercase, at most 63 characters, unique per test (and parameter).
    name = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:50].strip("-")
    create_namespace(cluster, name)
    return Helm(cluster, name, tmp_path / "helm")
