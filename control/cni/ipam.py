"""IPAM: pod addresses from the node's subnet, one file per allocated address, under a file lock.

The state directory of a network contains one file named after each
allocated address (its content is the container id, interface name and
pod), a ``last_reserved_ip`` file, and a ``lock`` file that every
operation locks with ``flock``, so concurrent plugin processes never hand
out one address twice. Allocation is round robin, as CNI's host-local
plugin does it: the first free address after the last one handed out,
wrapping at the end of the range, so a freed address is reused as late as
possible and a stale ARP entry or connection rarely meets a new pod.

The network address, the broadcast address and the gateway (the first
host address) are never handed out. Files are written to a temporary
name and renamed, so a crash leaves either a whole allocation or none.

Allocations outlive a sandbox that disappears without DEL (a crashed
runtime, a node reboot). ``reconcile`` frees every allocation whose
container the runtime no longer lists.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from ipaddress import IPv4Address, IPv4Network

from pykube_control.cni.errors import IO_FAILURE, RANGE_EXHAUSTED, TRY_AGAIN_LATER, CNIError
from pykube_control.cni.logs import PluginLog

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

    from pykube_control.cni.config import NetworkConfig

log = PluginLog("pykube.cni")

LOCK_FILE = "lock"
LAST_RESERVED_FILE = "last_reserved_ip"
# Seconds to wait for the lock before reporting "try again later" (code
# 11). Holders keep it for a few file operations, so waiting this long
# means a holder is stuck, not busy.
LOCK_TIMEOUT_SECONDS = 10.0
_LOCK_POLL_SECONDS = 0.002
# Allocations younger than this survive ``reconcile`` even when the
# runtime does not list their container, because the runtime lists a
# sandbox only after its ADD returned.
RECONCILE_MIN_AGE_SECONDS = 60.0


class Allocation:
    """One allocated address and the attachment (container id and interface) it belongs to."""

    __slots__ = ("address", "container_id", "ifname", "pod")

    def __init__(self, address: IPv4Address, container_id: str, ifname: str, pod: str = "") -> None:
        self.address = address
        self.container_id = container_id
        self.ifname = ifname
        self.pod = pod

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Allocation):
            return NotImplemented
        return (self.address, self.container_id, self.ifname, self.pod) == (other.address, other.container_id, other.ifname, other.pod)

    def __repr__(self) -> str:
        return f"Allocation(address={self.address!r}, container_id={self.container_id!r}, ifname={self.ifname!r}, pod={self.pod!r})"


class IPAM:
    """The allocations of one network on one node; see the module docstring for the contract."""

    def __init__(self, directory: Path, subnet: IPv4Network, *, lock_timeout: float = LOCK_TIMEOUT_SECONDS) -> None:
        self.directory = directory
        self.subnet = subnet
        self.gateway = subnet.network_address + 1
        self.lock_timeout = lock_timeout
        # The usable range: past the network address and the gateway, before the broadcast address.
        self.first = int(subnet.network_address) + 2
        self.last = int(subnet.broadcast_address) - 1

    @classmethod
    def for_network(cls, config: NetworkConfig) -> IPAM:
        """Open the allocations of ``config``'s network: ``<stateDir>/<name>``."""
        return cls(config.state_dir / config.name, config.subnet)

    @property
    def size(self) -> int:
        """The number of addresses that pods can get."""
        return self.last - self.first + 1

    def allocate(self, container_id: str, ifname: str, pod: str = "") -> IPv4Address:
        """Allocate an address for the attachment, or return the one it already holds.

        Raises CNIError 102 when every address is taken.
        """
        with self._locked():
            allocations = self._read_all()
            for allocation in allocations.values():
                if allocation.container_id == container_id and allocation.ifname == ifname:
                    return allocation.address
            address = self._next_free(allocations)
            self._write(Allocation(address, container_id, ifname, pod))
            self._write_text(LAST_RESERVED_FILE, str(address))
            return address

    def lookup(self, container_id: str, ifname: str) -> IPv4Address | None:
        """Return the address the attachment holds, or None."""
        with self._locked():
            for allocation in self._read_all().values():
                if allocation.container_id == container_id and allocation.ifname == ifname:
                    return allocation.address
        return None

    def release(self, container_id: str, ifname: str | None = None) -> list[IPv4Address]:
        """Free the addresses of the container (of one interface when ``ifname`` is set).

        Returns the freed addresses. Releasing what is not allocated frees
        nothing and is no error, because runtimes repeat DEL.
        """
        with self._locked():
            freed = []
            for allocation in self._read_all().values():
                if allocation.container_id == container_id and ifname in (None, allocation.ifname):
                    self._remove(allocation.address)
                    freed.append(allocation.address)
            return freed

    def reconcile(self, live_container_ids: Iterable[str], *, min_age: float = RECONCILE_MIN_AGE_SECONDS) -> list[IPv4Address]:
        """Free the allocations of containers not in ``live_container_ids``.

        containerd passes the sandbox id as CNI_CONTAINERID, so the node
        agent passes the ids of every sandbox CRI lists, ready or not.
        Allocations younger than ``min_age`` seconds are kept, because their
        ADD may still be running. Returns the freed addresses.
        """
        live = set(live_container_ids)
        now = time.time()
        with self._locked():
            freed = []
            for allocation in self._read_all().values():
                if allocation.container_id in live:
                    continue
                path = self.directory / str(allocation.address)
                with contextlib.suppress(FileNotFoundError):
                    if now - path.stat().st_mtime < min_age:
                        continue
                self._remove(allocation.address)
                freed.append(allocation.address)
                log.info("freed leaked address address=%s container_id=%s pod=%s", allocation.address, allocation.container_id, allocation.pod)
            return freed

    def allocations(self) -> list[Allocation]:
        """Return every allocation, ordered by address."""
        with self._locked():
            found = self._read_all()
        return [found[address] for address in sorted(found)]

    def _next_free(self, allocations: dict[IPv4Address, Allocation]) -> IPv4Address:
        last = self._last_reserved()
        start = last + 1 if last is not None and self.first <= last < self.last else self.first
        for offset in range(self.size):
            candidate = IPv4Address(self.first + (start - self.first + offset) % self.size)
            if candidate not in allocations:
                return candidate
        raise CNIError(
            RANGE_EXHAUSTED,
            f"no free address in subnet {self.subnet}",
            f"all {self.size} pod addresses are allocated; delete pods or give the node a larger podCIDR",
        )

    def _last_reserved(self) -> int | None:
        try:
            return int(IPv4Address((self.directory / LAST_RESERVED_FILE).read_text().strip()))
        except FileNotFoundError:
            return None
        except ValueError:
            log.warning("ignored unreadable file path=%s", self.directory / LAST_RESERVED_FILE)
            return None

    def _read_all(self) -> dict[IPv4Address, Allocation]:
        allocations: dict[IPv4Address, Allocation] = {}
        for entry in os.scandir(self.directory):
            try:
                address = IPv4Address(entry.name)
            except ValueError:
                continue  # the lock, last_reserved_ip and temporary files
            try:
                with open(entry.path, encoding="utf-8") as f:
                    record = json.load(f)
                allocations[address] = Allocation(address, str(record["containerID"]), str(record["ifname"]), str(record.get("pod", "")))
            except FileNotFoundError:
                continue
            except (ValueError, KeyError, TypeError) as exc:
                # Keep the address reserved under an id that no runtime
                # lists, so reconcile frees it and it is never handed out twice.
                log.warning("unreadable allocation file path=%s error=%s", entry.path, exc)
                allocations[address] = Allocation(address, "", "")
        return allocations

    def _write(self, allocation: Allocation) -> None:
        record = {"containerID": allocation.container_id, "ifname": allocation.ifname, "pod": allocation.pod}
        self._write_text(str(allocation.address), json.dumps(record))

    def _write_text(self, name: str, text: str) -> None:
        temporary = self.directory / f".{name}.tmp"
        try:
            with open(temporary, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(temporary, self.directory / name)
        except OSError as exc:
            raise CNIError(IO_FAILURE, f"failed to write IPAM state {self.directory / name}", str(exc)) from exc

    def _remove(self, address: IPv4Address) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.directory / str(address))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise CNIError(IO_FAILURE, f"failed to open IPAM state directory {self.directory}", str(exc)) from exc
        try:
            self._acquire(fd)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def _acquire(self, fd: int) -> None:
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise CNIError(IO_FAILURE, f"failed to lock {self.directory / LOCK_FILE}", str(exc)) from exc
            if time.monotonic() >= deadline:
                raise CNIError(
                    TRY_AGAIN_LATER,
                    f"timed out after {self.lock_timeout} s waiting for the IPAM lock {self.directory / LOCK_FILE}",
                    "another plugin process holds it; retry",
                )
            time.sleep(_LOCK_POLL_SECONDS)
