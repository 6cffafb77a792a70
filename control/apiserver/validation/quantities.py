"""Resource quantities and resource names inside objects: requests, limits, quota, capacity.

A quantity arrives as a JSON string ("100m") or number (0.5); both parse with
pykube_core.quantity. A value that does not parse gets Kubernetes' decode
message as an "Invalid value" error at its field path, since this API server
decodes quantities lazily where Kubernetes fails the whole request body.
"""

from __future__ import annotations

from pykube_core.errors import FieldError
from pykube_core.names import validate_dns1123_subdomain
from pykube_core.quantity import FORMAT_MESSAGE, Quantity, parse_quantity

from pykube_control.apiserver.validation.fielderrors import NEGATIVE_MESSAGE, invalid
from pykube_control.apiserver.validation.formats import qualified_name_messages
from pykube_control.apiserver.validation.wire import as_dict

# Resources a container may request without a domain prefix.
STANDARD_CONTAINER_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})
HUGEPAGES_PREFIX = "hugepages-"
REQUESTS_PREFIX = "requests."
LIMITS_PREFIX = "limits."
NATIVE_DOMAIN = "kubernetes.io"


def parse_value(value: object) -> Quantity | None:
    """Parse a JSON string or number as a quantity; None when it is neither or malformed."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        return None
    try:
        return parse_quantity(value)
    except FieldError:
        return None


def quantity_errors(path: str, value: object) -> tuple[Quantity | None, list[FieldError]]:
    """Parse one quantity and check that it is not negative.

    Returns the quantity (None when malformed) and the errors found.
    """
    quantity = parse_value(value)
    if quantity is None:
        return None, [invalid(path, value, FORMAT_MESSAGE)]
    if quantity.nanos < 0:
        return quantity, [invalid(path, str(quantity), NEGATIVE_MESSAGE)]
    return quantity, []


def resource_list(
    path: str, value: object, name_check: str = "container"
) -> tuple[dict[str, Quantity], list[FieldError]]:
    """Check a ResourceList (resource name to quantity) at ``path``.

    ``name_check`` selects the resource-name rule: "container" for pod
    requests and limits, "any" for a qualified name only (capacity, quota).
    Returns the parsed quantities of the valid entries and the errors.
    """
    parsed: dict[str, Quantity] = {}
    errors: list[FieldError] = []
    for name, raw in sorted(as_dict(value).items()):
        entry = f"{path}[{name}]"
        if name_check == "container":
            errors.extend(container_resource_name_errors(entry, name))
        else:
            errors.extend(resource_name_errors(entry, name))
        quantity, found = quantity_errors(entry, raw)
        errors.extend(found)
        if quantity is None or found:
            continue
        parsed[name] = quantity
        if name_check == "container":
            errors.extend(_integer_errors(entry, name, quantity))
    return parsed, errors


def resource_name_errors(path: str, name: str) -> list[FieldError]:
    """Check that a resource name is a qualified name such as "cpu" or "example.com/gpu"."""
    return [invalid(path, name, message) for message in qualified_name_messages(name)]


def container_resource_name_errors(path: str, name: str) -> list[FieldError]:
    """Check a container resource name: standard, hugepages-<size>, or domain-prefixed."""
    errors = resource_name_errors(path, name)
    if errors:
        return errors
    if "/" not in name:
        if name not in STANDARD_CONTAINER_RESOURCES and not name.startswith(HUGEPAGES_PREFIX):
            return [invalid(path, name, "must be a standard resource for containers")]
        return []
    domain = name.split("/", 1)[0]
    if domain == NATIVE_DOMAIN or domain.endswith("." + NATIVE_DOMAIN):
        return [invalid(path, name, "must be a standard resource for containers")]
    if validate_dns1123_subdomain(domain):
        return [invalid(path, name, "must be a standard resource type or fully qualified")]
    return []


def _integer_errors(path: str, name: str, quantity: Quantity) -> list[FieldError]:
    # Extended resources (a domain prefix outside kubernetes.io) count whole
    # devices, so Kubernetes rejects fractions such as "500m" for them.
    if "/" not in name or name.startswith(REQUESTS_PREFIX):
        return []
    if quantity.nanos % 10**9 != 0:
        return [invalid(path, str(quantity), "must be an integer")]
    return []
