"""The join token and join command of `pykube up`, against a real API server."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import pytest

from pykube_control.apiserver.auth.bootstrap_tokens import TOKEN_PATTERN
from pykube_control.cli.up_components import UpOptions
from pykube_control.cli.up_join import REUSE_MARGIN, TOKEN_TTL, ensure_join_token, join_address, join_command
from pykube_control.client.resource import SECRETS
from tests.join.conftest import CSRS, Cluster, csr_body

NOW = datetime.datetime.now(datetime.timezone.utc)


def options(**changes: object) -> UpOptions:
    base = UpOptions(
        data_dir=Path("/nonexistent"), host="0.0.0.0", port=6443, etcd_endpoints=None, runtime="fake",
        fake_nodes=1, node_name="box", node_ip=None, proxy=False, log_level="info",
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def token_secrets(cluster: Cluster) -> list[str]:
    listed = await cluster.admin.list(SECRETS, namespace="kube-system")
    return [s["metadata"]["name"] for s in listed["items"] if s.get("type") == "bootstrap.kubernetes.io/token"]


async def test_token_created(cluster: Cluster) -> None:
    token = await ensure_join_token(cluster.admin)
    assert TOKEN_PATTERN.match(token) is not None
    assert await token_secrets(cluster) == [f"bootstrap-token-{token.split('.')[0]}"]


async def test_token_authenticates(cluster: Cluster) -> None:
    token = await ensure_join_token(cluster.admin)
    await cluster.wait_for_secret_cache(f"bootstrap-token-{token.split('.')[0]}")
    async with cluster.client(token=token) as joiner:
        created = await joiner.create(CSRS, csr_body())
    assert created["spec"]["username"] == f"system:bootstrap:{token.split('.')[0]}"


async def test_token_reused(cluster: Cluster) -> None:
    first = await ensure_join_token(cluster.admin)
    second = await ensure_join_token(cluster.admin)
    assert second == first


async def test_expiring_token_replaced(cluster: Cluster) -> None:
    first = await ensure_join_token(cluster.admin, now=NOW)
    later = NOW + TOKEN_TTL - REUSE_MARGIN + datetime.timedelta(seconds=1)
    second = await ensure_join_token(cluster.admin, now=later)
    assert second != first
    assert len(await token_secrets(cluster)) == 2


@pytest.mark.parametrize(
    ("changes", "address"),
    [
        pytest.param({"node_ip": "192.0.2.7"}, "192.0.2.7", id="node ip"),
        pytest.param({"host": "198.51.100.4"}, "198.51.100.4", id="listen address"),
        pytest.param({"host": "198.51.100.4", "node_ip": "192.0.2.7"}, "192.0.2.7", id="node ip wins"),
    ],
)
def test_join_address(changes: dict[str, object], address: str) -> None:
    assert join_address(options(**changes)) == address


@pytest.mark.parametrize(
    ("address", "server"),
    [
        pytest.param("192.0.2.7", "https://192.0.2.7:6443", id="ipv4"),
        pytest.param("2001:db8::7", "https://[2001:db8::7]:6443", id="ipv6"),
        pytest.param("api.example.com", "https://api.example.com:6443", id="dns name"),
    ],
)
def test_join_command_server(address: str, server: str) -> None:
    line = join_command(address, 6443, "abcdef.0123456789abcdef", "sha256:" + "a" * 64)
    assert line == f"pykube node --server {server} --token abcdef.0123456789abcdef --ca-cert-hash sha256:{'a' * 64}"
