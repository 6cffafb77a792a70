"""The admission chain: checks that may change or reject a write before it is stored.

Plugins run in order, after validation and before the store write, as
Kubernetes' mutating and validating admission do: NamespaceLifecycle,
LimitRanger, Priority, Service IP and port allocation, then ResourceQuota. A plugin raises APIError to reject. Writes
that a quota may count hold their namespace's lock from admission until the
store write ends, so two concurrent creates never both pass a quota with
room for one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from pykube_control.apiserver.resources import ResourceType

if TYPE_CHECKING:
    from pykube_control.apiserver.context import APIContext

Object = dict[str, Any]
Operation = Literal["CREATE", "UPDATE", "DELETE"]


@dataclasses.dataclass
class AdmissionRequest:
    operation: Operation
    resource: ResourceType
    subresource: str | None
    namespace: str | None
    name: str
    obj: Object | None
    """The object to store (None for DELETE); plugins may change it in place."""
    old: Object | None
    dry_run: bool
    rollbacks: list[Callable[[], Awaitable[None]]] = dataclasses.field(default_factory=list)
    """Undo steps a plugin registers for side effects (a quota charge) if the write then fails."""


Plugin = Callable[["APIContext", AdmissionRequest], Awaitable[None]]
