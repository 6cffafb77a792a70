"""The manifests in examples/ pass the API server's validation, applied in order as the README says."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykube_control.apiserver.app import APIServerConfig
from tests.apiserver.server_thread import ServerThread, kubectl_binary, run_kubectl

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    thread = ServerThread(APIServerConfig(data_dir=tmp_path_factory.mktemp("examples"), host="127.0.0.1", port=0))
    try:
        server = thread.start()
        assert server.kubeconfig is not None
        yield server.kubeconfig
    finally:
        thread.stop()


def test_examples_exist() -> None:
    assert [p.name for p in EXAMPLES] == ["01-web.yaml", "02-job.yaml", "03-quota.yaml", "04-config.yaml", "05-daemonset.yaml"]


@pytest.mark.parametrize("which", ["current", "1.20"])
def test_examples_apply(kubeconfig: Path, which: str) -> None:
    binary = kubectl_binary(which)
    if binary is None:
        pytest.skip(f"kubectl {which} not installed; scripts/setup unpacks Debian's 1.20 into .cache/")
    outputs = []
    for example in EXAMPLES:
        done: subprocess.CompletedProcess[str] = run_kubectl(kubeconfig, "apply", "-f", str(example), binary=binary)
        assert done.returncode == 0, f"{example.name}: {done.stderr}"
        outputs.append(done.stdout)
    assert "deployment.apps/web" in outputs[0]
