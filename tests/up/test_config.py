"""Parsing of --etcd-endpoints shared by `pykube apiserver` and `pykube up`."""

from __future__ import annotations

import pytest

from pykube_control.cli.config import parse_etcd_endpoints


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("127.0.0.1:2379", "127.0.0.1:2379", id="host-port"),
        pytest.param("http://127.0.0.1:2379/", "127.0.0.1:2379", id="url"),
        pytest.param("http://a:1, b:2,", "a:1,b:2", id="list"),
        pytest.param("[::1]:2379", "[::1]:2379", id="ipv6"),
    ],
)
def test_accepted(text: str, expected: str) -> None:
    assert parse_etcd_endpoints(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("https://a:1", "uses TLS", id="tls"),
        pytest.param("etcd-host", "has no port", id="no-port"),
        pytest.param(" , ", "no etcd endpoint", id="empty"),
    ],
)
def test_rejected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_etcd_endpoints(text)
