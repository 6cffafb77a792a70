"""KindRules: the defaulting and validation functions of one kind, as the registry calls them.

Each kind module builds one KindRules value. The registry adds the ObjectMeta
checks every kind shares, so a kind's functions see only its own fields.
Every function takes the whole object as decoded from JSON and must accept
any JSON value anywhere in it without raising.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from pykube_core.errors import FieldError

Defaulter = Callable[[dict[str, Any]], None]
Validator = Callable[[dict[str, Any]], list[FieldError]]
UpdateValidator = Callable[[dict[str, Any], dict[str, Any]], list[FieldError]]


def no_defaults(obj: dict[str, Any]) -> None:
    """Leave the object as it is: the kind has no defaults."""


def no_errors(obj: dict[str, Any]) -> list[FieldError]:
    return []


def no_update_errors(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    return []


@dataclasses.dataclass(frozen=True, slots=True)
class KindRules:
    """The kind-specific steps of defaulting and validation.

    ``validate`` runs on create and again on update; ``validate_update`` adds
    the update-only rules (immutable fields). ``validate_status`` checks the
    status of a status-subresource update.
    """

    defaults: Defaulter = no_defaults
    validate: Validator = no_errors
    validate_update: UpdateValidator = no_update_errors
    validate_status: UpdateValidator = no_update_errors
