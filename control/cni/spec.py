"""The CNI protocol: supported versions, the CNI_* environment, and result objects per version.

The plugin speaks CNI 1.0.0 and 1.1.0 and the 0.3.x/0.4.0 result format
that older configurations (and containerd's own loopback network, which
is 0.3.1) request. The result is shaped once, in the 1.x form, and
``format_result`` adapts it to the version in the configuration: before
1.0.0 each IP carries a ``version`` field, and only 1.1.0 has an
interface ``mtu``.
"""

from __future__ import annotations

import re

from pykube_control.cni.errors import INCOMPATIBLE_VERSION, INVALID_ENVIRONMENT, CNIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, TypedDict

    class Interface(TypedDict, total=False):
        name: str
        mac: str
        sandbox: str
        mtu: int

    class IPConfig(TypedDict, total=False):
        address: str
        gateway: str
        interface: int

    class Route(TypedDict, total=False):
        dst: str
        gw: str

    class Result(TypedDict):
        interfaces: list[Interface]
        ips: list[IPConfig]
        routes: list[Route]


SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
CURRENT_VERSION = "1.0.0"

# The spec's rule for container ids: a letter or digit, then letters,
# digits, underscores, dots and hyphens.
_CONTAINER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
# Linux interface names are at most IFNAMSIZ-1 = 15 bytes.
MAX_IFNAME_LENGTH = 15


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def check_version(version: str) -> None:
    """Raise the spec's error 1 unless the plugin supports ``version``."""
    if version not in SUPPORTED_VERSIONS:
        raise CNIError(
            INCOMPATIBLE_VERSION,
            f"unsupported cniVersion {version!r}",
            f"set cniVersion to one of {', '.join(SUPPORTED_VERSIONS)}",
        )


def format_result(result: Result, version: str) -> dict[str, Any]:
    """Shape ``result`` as the given CNI version defines it."""
    interfaces: list[dict[str, Any]] = []
    for interface in result["interfaces"]:
        shaped = dict(interface)
        if version != "1.1.0":
            shaped.pop("mtu", None)
        interfaces.append(shaped)
    ips: list[dict[str, Any]] = []
    for ip in result["ips"]:
        shaped = dict(ip)
        if version_tuple(version) < (1, 0, 0):
            shaped["version"] = "6" if ":" in ip["address"] else "4"
        ips.append(shaped)
    routes = [dict(route) for route in result["routes"]]
    return {"cniVersion": version, "interfaces": interfaces, "ips": ips, "routes": routes}


class Environment:
    """The CNI_* variables of one invocation. Empty strings mean the variable was unset."""

    __slots__ = ("command", "container_id", "netns", "ifname", "args", "path")

    def __init__(
        self, command: str, container_id: str = "", netns: str = "", ifname: str = "",
        args: Mapping[str, str] | None = None, path: str = "",
    ) -> None:  # fmt: skip
        self.command = command
        self.container_id = container_id
        self.netns = netns
        self.ifname = ifname
        self.args: Mapping[str, str] = args if args is not None else {}
        self.path = path

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Environment):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"Environment({fields})"

    def require(self, *names: str) -> None:
        """Raise the spec's error 4 when one of the named variables is unset or malformed."""
        values = {"CNI_CONTAINERID": self.container_id, "CNI_NETNS": self.netns, "CNI_IFNAME": self.ifname}
        for name in names:
            if not values[name]:
                raise CNIError(INVALID_ENVIRONMENT, f"missing environment variable {name}", f"CNI_COMMAND={self.command} needs {name}")
        if "CNI_CONTAINERID" in names and not _CONTAINER_ID.match(self.container_id):
            raise CNIError(
                INVALID_ENVIRONMENT,
                f"invalid CNI_CONTAINERID {self.container_id!r}",
                "a container id starts with a letter or digit and contains only letters, digits, '_', '.' and '-'",
            )
        if "CNI_IFNAME" in names:
            check_ifname("CNI_IFNAME", self.ifname, INVALID_ENVIRONMENT)

    @property
    def pod(self) -> str:
        """The Kubernetes pod as ``namespace/name`` from CNI_ARGS, or "" when the runtime sent none."""
        namespace = self.args.get("K8S_POD_NAMESPACE", "")
        name = self.args.get("K8S_POD_NAME", "")
        return f"{namespace}/{name}" if name else ""


def check_ifname(field_name: str, name: str, code: int) -> None:
    """Raise ``code`` unless ``name`` is a valid Linux interface name."""
    bad = not name or len(name.encode()) > MAX_IFNAME_LENGTH or name in (".", "..")
    if bad or any(c in name for c in "/: \t\n"):
        raise CNIError(
            code,
            f"invalid interface name {field_name}={name!r}",
            f"use 1 to {MAX_IFNAME_LENGTH} characters without '/', ':' or whitespace",
        )


def parse_args(raw: str) -> dict[str, str]:
    """Parse CNI_ARGS (``K=V;K=V``) into a dict; items without '=' are skipped."""
    pairs: dict[str, str] = {}
    for item in raw.split(";"):
        key, sep, value = item.partition("=")
        if sep and key:
            pairs[key] = value
    return pairs


def read_environment(environ: Mapping[str, str]) -> Environment:
    """Read the CNI_* variables; raise the spec's error 4 when CNI_COMMAND is missing."""
    command = environ.get("CNI_COMMAND", "")
    if not command:
        raise CNIError(INVALID_ENVIRONMENT, "missing environment variable CNI_COMMAND", "set it to ADD, DEL, CHECK, GC, STATUS or VERSION")
    return Environment(
        command=command,
        container_id=environ.get("CNI_CONTAINERID", ""),
        netns=environ.get("CNI_NETNS", ""),
        ifname=environ.get("CNI_IFNAME", ""),
        args=parse_args(environ.get("CNI_ARGS", "")),
        path=environ.get("CNI_PATH", ""),
    )
