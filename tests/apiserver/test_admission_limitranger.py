"""LimitRanger: the pure rules, then the plugin over a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pykube_core.pod_resources import pod_limits, pod_requests
from pykube_core.quantity import parse_quantity
from pykube_control.apiserver.admission import limitrange_rules as rules
from pykube_control.apiserver.context import APIContext
from pykube_control.apiserver.status import APIError

from tests.apiserver.admission_builders import (
    CLAIMS,
    LIMIT_RANGES,
    PODS,
    claim,
    container,
    create,
    limit_range,
    open_context,
    pod,
    read,
    update,
)

Object = dict[str, Any]


def item(kind: str, **fields: dict[str, str]) -> Object:
    return {"type": kind, **fields}


def q(text: str) -> Any:
    return parse_quantity(text)


# --- pure rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "requests", "limits"),
    [
        pytest.param(
            [item("Container", default={"cpu": "500m"}, defaultRequest={"cpu": "100m"})],
            {"cpu": "100m"},
            {"cpu": "500m"},
            id="default and defaultRequest",
        ),
        pytest.param([item("Container", default={"memory": "1Gi"})], {"memory": "1Gi"}, {"memory": "1Gi"}, id="request from limit"),
        pytest.param([item("Container", max={"cpu": "2"})], {"cpu": "2"}, {"cpu": "2"}, id="limit from max"),
        pytest.param([item("Container", min={"cpu": "50m"})], {"cpu": "50m"}, {}, id="request from min"),
        pytest.param([item("Pod", max={"cpu": "2"})], {}, {}, id="pod item sets nothing"),
        pytest.param(
            [item("Container", default={"cpu": "1"}), item("Container", default={"cpu": "2"})],
            {"cpu": "2"},
            {"cpu": "2"},
            id="later item wins",
        ),
    ],
)
def test_default_requirements(items: list[Object], requests: dict[str, str], limits: dict[str, str]) -> None:
    found_requests, found_limits = rules.default_requirements(items)
    assert {k: str(v) for k, v in found_requests.items()} == requests
    assert {k: str(v) for k, v in found_limits.items()} == limits


def test_defaults_fill_missing_only() -> None:
    target = pod("web", container("a", requests={"cpu": "200m"}), container("b", limits={"memory": "64Mi"}))
    requests = {"cpu": q("100m"), "memory": q("128Mi")}
    limits = {"cpu": q("1"), "memory": q("256Mi")}
    rules.apply_defaults(target, requests, limits)
    first, second = target["spec"]["containers"]
    assert first["resources"] == {"requests": {"cpu": "200m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}}
    assert second["resources"] == {"requests": {"memory": "64Mi", "cpu": "100m"}, "limits": {"memory": "64Mi", "cpu": "1"}}


def test_defaults_annotation() -> None:
    target = pod("web", container("app"), init=(container("setup", requests={"cpu": "1"}),))
    rules.apply_defaults(target, {"cpu": q("100m"), "memory": q("1Mi")}, {"memory": q("2Mi")})
    assert target["metadata"]["annotations"][rules.LIMIT_RANGER_ANNOTATION] == (
        "LimitRanger plugin set: cpu, memory request for container app; memory limit for container app; "
        "memory request for init container setup; memory limit for init container setup"
    )


def test_defaults_without_change_leave_pod_alone() -> None:
    target = pod("web", container("app", requests={"cpu": "1"}, limits={"cpu": "1"}))
    rules.apply_defaults(target, {"cpu": q("100m")}, {"cpu": q("2")})
    assert "annotations" not in target["metadata"]


CPU_RANGE = item("Container", min={"cpu": "100m"}, max={"cpu": "1"}, maxLimitRequestRatio={"cpu": "2"})


@pytest.mark.parametrize(
    ("items", "target", "messages"),
    [
        pytest.param(
            [CPU_RANGE],
            pod("p", container(requests={"cpu": "500m"}, limits={"cpu": "800m"})),
            [],
            id="container within range",
        ),
        pytest.param(
            [item("Container", min={"cpu": "100m"})],
            pod("p", container(requests={"cpu": "50m"}, limits={"cpu": "50m"})),
            ["minimum cpu usage per Container is 100m, but request is 50m"],
            id="request below min",
        ),
        pytest.param(
            [item("Container", min={"cpu": "100m"})],
            pod("p", container(limits={"cpu": "50m"}, requests={"cpu": "200m"})),
            ["minimum cpu usage per Container is 100m, but limit is 50m"],
            id="limit below min",
        ),
        pytest.param(
            [item("Container", min={"cpu": "100m"})],
            pod("p", container()),
            ["minimum cpu usage per Container is 100m.  No request is specified"],
            id="min without request",
        ),
        pytest.param(
            [item("Container", max={"memory": "1Gi"})],
            pod("p", container(requests={"memory": "1Gi"}, limits={"memory": "2Gi"})),
            ["maximum memory usage per Container is 1Gi, but limit is 2Gi"],
            id="limit above max",
        ),
        pytest.param(
            [item("Container", max={"memory": "1Gi"})],
            pod("p", container(requests={"memory": "1Gi"})),
            ["maximum memory usage per Container is 1Gi.  No limit is specified"],
            id="max without limit",
        ),
        pytest.param(
            [item("Container", maxLimitRequestRatio={"cpu": "2"})],
            pod("p", container(requests={"cpu": "250m"}, limits={"cpu": "1"})),
            ["cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000"],
            id="ratio too high",
        ),
        pytest.param(
            [item("Container", maxLimitRequestRatio={"cpu": "2"})],
            pod("p", container(limits={"cpu": "1"})),
            ["cpu max limit to request ratio per Container is 2, but no request is specified or request is 0"],
            id="ratio without request",
        ),
        pytest.param(
            [item("Container", maxLimitRequestRatio={"cpu": "2"})],
            pod("p", container(requests={"cpu": "1"})),
            ["cpu max limit to request ratio per Container is 2, but no limit is specified or limit is 0"],
            id="ratio without limit",
        ),
        pytest.param(
            [item("Container", max={"cpu": "1"})],
            pod("p", container(requests={"cpu": "1"}, limits={"cpu": "1"}), init=(container("init", requests={"cpu": "2"}, limits={"cpu": "2"}),)),
            ["maximum cpu usage per Container is 1, but limit is 2"],
            id="init container too large",
        ),
        pytest.param(
            [item("Pod", max={"cpu": "1"})],
            pod("p", container("a", requests={"cpu": "600m"}, limits={"cpu": "600m"}), container("b", requests={"cpu": "600m"}, limits={"cpu": "600m"})),
            ["maximum cpu usage per Pod is 1, but limit is 1200m"],
            id="pod sum above max",
        ),
        pytest.param(
            [item("Pod", min={"memory": "1Gi"})],
            pod("p", container(requests={"memory": "512Mi"}), init=(container("init", requests={"memory": "1Gi"}),)),
            [],
            id="pod init container counts as max",
        ),
        pytest.param(
            [item("Container", min={"cpu": "100m"}), item("Container", min={"cpu": "100m"})],
            pod("p", container(requests={"cpu": "50m"})),
            ["minimum cpu usage per Container is 100m, but request is 50m"] * 2,
            id="one message per item",
        ),
    ],
)
def test_pod_violations(items: list[Object], target: Object, messages: list[str]) -> None:
    assert rules.pod_violations(items, target) == messages


@pytest.mark.parametrize(
    ("items", "target", "messages"),
    [
        pytest.param([item("PersistentVolumeClaim", min={"storage": "1Gi"}, max={"storage": "10Gi"})], claim(storage_request="5Gi"), [], id="within range"),
        pytest.param(
            [item("PersistentVolumeClaim", max={"storage": "10Gi"})],
            claim(storage_request="20Gi"),
            ["maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi"],
            id="above max",
        ),
        pytest.param(
            [item("PersistentVolumeClaim", min={"storage": "1Gi"})],
            claim(storage_request="500Mi"),
            ["minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi"],
            id="below min",
        ),
        pytest.param(
            [item("PersistentVolumeClaim", max={"storage": "10Gi"})],
            claim(storage_request=None),
            ["maximum storage usage per PersistentVolumeClaim is 10Gi.  No request is specified"],
            id="no request",
        ),
        pytest.param([item("Container", max={"storage": "1Gi"})], claim(storage_request="5Gi"), [], id="container item ignored"),
    ],
)
def test_claim_violations(items: list[Object], target: Object, messages: list[str]) -> None:
    assert rules.claim_violations(items, target) == messages


@pytest.mark.parametrize(
    ("request_", "limit", "enforced", "expected"),
    [
        pytest.param("50m", "2", "100m", (50, 2000, 100), id="milli precision"),
        pytest.param("1", None, "9223372036854776", (1, 0, 9223372036854776), id="unit precision when huge"),
        pytest.param("1500m", None, "9223372036854776", (2, 0, 9223372036854776), id="unit precision rounds up"),
    ],
)
def test_comparable(request_: str, limit: str | None, enforced: str, expected: tuple[int, int, int]) -> None:
    assert rules.comparable(q(request_), q(limit) if limit else None, q(enforced)) == expected


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        pytest.param(["a"], "a", id="one"),
        pytest.param(["a", "b"], "[a, b]", id="two"),
        pytest.param(["a", "a"], "a", id="duplicates"),
    ],
)
def test_aggregate(messages: list[str], expected: str) -> None:
    assert rules.aggregate(messages) == expected


def test_pod_totals_with_sidecar() -> None:
    # Sidecar (100m) runs next to the app (300m); a plain init container (350m)
    # runs next to the sidecar only: max(100m + 300m, 100m + 350m) = 450m.
    sidecar = {**container("sidecar", requests={"cpu": "100m"}, limits={"cpu": "100m"}), "restartPolicy": "Always"}
    target = pod(
        "p",
        container("app", requests={"cpu": "300m"}),
        init=(sidecar, container("migrate", requests={"cpu": "350m"})),
        overhead={"cpu": "10m"},
    )
    assert str(pod_requests(target, overhead=False)["cpu"]) == "450m"
    assert str(pod_requests(target, overhead=True)["cpu"]) == "460m"
    assert str(pod_limits(target, overhead=True)["cpu"]) == "110m"


# --- the plugin over a store ------------------------------------------------------------


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[APIContext]:
    async for context in open_context(tmp_path):
        yield context


DEFAULTS = item(
    "Container",
    default={"cpu": "500m", "memory": "256Mi"},
    defaultRequest={"cpu": "100m", "memory": "128Mi"},
    max={"cpu": "1", "memory": "1Gi"},
)


async def test_plugin_defaults_pod(ctx: APIContext) -> None:
    await create(ctx, LIMIT_RANGES, limit_range("limits", DEFAULTS))
    await create(ctx, PODS, pod("web"))
    stored = await read(ctx, PODS, "web")
    resources = stored["spec"]["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": "100m", "memory": "128Mi"}
    assert resources["limits"] == {"cpu": "500m", "memory": "256Mi"}
    assert rules.LIMIT_RANGER_ANNOTATION in stored["metadata"]["annotations"]


async def test_plugin_rejects_pod(ctx: APIContext) -> None:
    await create(ctx, LIMIT_RANGES, limit_range("limits", DEFAULTS))
    big = pod("big", container("app", requests={"cpu": "1", "memory": "1Gi"}, limits={"cpu": "2", "memory": "2Gi"}))
    with pytest.raises(APIError) as info:
        await create(ctx, PODS, big)
    assert info.value.code == 403
    assert info.value.reason == "Forbidden"
    assert info.value.message == (
        'pods "big" is forbidden: [maximum cpu usage per Container is 1, but limit is 2, '
        "maximum memory usage per Container is 1Gi, but limit is 2Gi]"
    )


async def test_plugin_rejected_pod_not_stored(ctx: APIContext) -> None:
    await create(ctx, LIMIT_RANGES, limit_range("limits", item("Container", max={"cpu": "1"})))
    with pytest.raises(APIError):
        await create(ctx, PODS, pod("big", container(requests={"cpu": "2"}, limits={"cpu": "2"})))
    with pytest.raises(APIError) as info:
        await read(ctx, PODS, "big")
    assert info.value.code == 404


async def test_plugin_skips_pod_update(ctx: APIContext) -> None:
    await create(ctx, PODS, pod("web", container(requests={"cpu": "2"}, limits={"cpu": "2"})))
    await create(ctx, LIMIT_RANGES, limit_range("limits", item("Container", max={"cpu": "1"})))
    stored = await read(ctx, PODS, "web")
    stored["metadata"]["labels"] = {"tier": "web"}
    updated = await update(ctx, PODS, stored)
    assert updated["metadata"]["labels"] == {"tier": "web"}


async def test_plugin_checks_claim_update(ctx: APIContext) -> None:
    await create(ctx, LIMIT_RANGES, limit_range("limits", item("PersistentVolumeClaim", max={"storage": "10Gi"})))
    await create(ctx, CLAIMS, claim("data", storage_request="5Gi"))
    grown = await read(ctx, CLAIMS, "data")
    grown["spec"]["resources"]["requests"]["storage"] = "20Gi"
    with pytest.raises(APIError) as info:
        await update(ctx, CLAIMS, grown)
    assert info.value.message == (
        'persistentvolumeclaims "data" is forbidden: maximum storage usage per PersistentVolumeClaim is 10Gi, '
        "but request is 20Gi"
    )


async def test_plugin_without_limit_ranges(ctx: APIContext) -> None:
    stored = await create(ctx, PODS, pod("plain"))
    assert stored["spec"]["containers"][0]["resources"] == {}
