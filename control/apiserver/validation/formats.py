"""String formats of the API that pykube_core does not check: ports, env names, keys, IPs.

Each ``*_messages`` function returns Kubernetes' messages for one format
(k8s.io/apimachinery/pkg/util/validation, 1.32), an empty list meaning
valid, so callers attach them to any field path. Object names, DNS labels
and subdomains, label keys and values come from pykube_core.names and
pykube_core.labels.
"""

from __future__ import annotations

import ipaddress
import re

from pykube_core.labels import validate_label_key
from pykube_core.names import max_length_message, regex_message

MIN_PORT = 1
MAX_PORT = 65535
IANA_SVC_NAME_MAX_LENGTH = 15
CONFIG_KEY_MAX_LENGTH = 253
DNS1035_LABEL_MAX_LENGTH = 63

DNS1035_LABEL_FORMAT = "[a-z]([-a-z0-9]*[a-z0-9])?"
CONFIG_KEY_FORMAT = "[-._a-zA-Z0-9]+"
PERCENT_FORMAT = "[0-9]+%"

_DNS1035_PATTERN = re.compile(DNS1035_LABEL_FORMAT)
_CONFIG_KEY_PATTERN = re.compile(CONFIG_KEY_FORMAT)
_PERCENT_PATTERN = re.compile(PERCENT_FORMAT)
_PORT_NAME_CHARSET = re.compile("[-a-z0-9]+")
_PORT_NAME_LETTER = re.compile("[a-z]")

_DNS1035_MESSAGE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)
_RELAXED_ENV_NAME_MESSAGE = (
    "a valid environment variable name must consist only of printable ASCII characters other than '='"
)
_IP_MESSAGE = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def inclusive_range_message(low: int, high: int) -> str:
    return f"must be between {low} and {high}, inclusive"


def port_number_messages(port: int) -> list[str]:
    """Check a port number such as containerPort: 1 to 65535."""
    if MIN_PORT <= port <= MAX_PORT:
        return []
    return [inclusive_range_message(MIN_PORT, MAX_PORT)]


def port_name_messages(name: str) -> list[str]:
    """Check an IANA_SVC_NAME such as a container port name ("http", "dns-tcp")."""
    messages: list[str] = []
    if len(name) > IANA_SVC_NAME_MAX_LENGTH:
        messages.append(max_length_message(IANA_SVC_NAME_MAX_LENGTH))
    if not _PORT_NAME_CHARSET.fullmatch(name):
        messages.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_LETTER.search(name):
        messages.append("must contain at least one letter (a-z)")
    if "--" in name:
        messages.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        messages.append("must not begin or end with a hyphen")
    return messages


def dns1035_label_messages(value: str) -> list[str]:
    """Check a DNS-1035 label, the format of Service names: it starts with a letter."""
    messages: list[str] = []
    if len(value) > DNS1035_LABEL_MAX_LENGTH:
        messages.append(max_length_message(DNS1035_LABEL_MAX_LENGTH))
    if not _DNS1035_PATTERN.fullmatch(value):
        messages.append(regex_message(_DNS1035_MESSAGE, DNS1035_LABEL_FORMAT, "my-name", "abc-123"))
    return messages


def env_var_name_messages(name: str) -> list[str]:
    """Check an environment variable name with the relaxed rule of Kubernetes 1.32.

    Since the RelaxedEnvironmentVariableValidation feature (beta and on by
    default in 1.32) any printable ASCII character except "=" is allowed.
    """
    if name == "":
        return ["environment variable name must be non-empty"]
    if any(not (" " <= character <= "~") or character == "=" for character in name):
        return [_RELAXED_ENV_NAME_MESSAGE]
    return []


def config_key_messages(key: str) -> list[str]:
    """Check a ConfigMap or Secret data key, which also becomes a file name in volumes."""
    messages: list[str] = []
    if len(key) > CONFIG_KEY_MAX_LENGTH:
        messages.append(max_length_message(CONFIG_KEY_MAX_LENGTH))
    if not _CONFIG_KEY_PATTERN.fullmatch(key):
        messages.append(
            regex_message(
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                CONFIG_KEY_FORMAT,
                "key.name",
                "KEY_NAME",
                "key-name",
            )
        )
    messages.extend(relative_path_prefix_messages(key))
    return messages


def relative_path_prefix_messages(value: str) -> list[str]:
    """Reject ".", ".." and a leading "..", which would escape a volume directory."""
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def percent_messages(value: str) -> list[str]:
    """Check a percentage string such as "25%"."""
    if _PERCENT_PATTERN.fullmatch(value):
        return []
    return [
        regex_message(
            "a valid percent string must be a numeric string followed by an ending '%'",
            PERCENT_FORMAT,
            "1%",
            "93%",
        )
    ]


def qualified_name_messages(value: str) -> list[str]:
    """Check a qualified name ("example.com/name" or "name"), as label keys are checked."""
    return validate_label_key(value)


def ip_messages(value: str) -> list[str]:
    """Check an IPv4 or IPv6 address literal."""
    if "%" in value:
        # Python accepts an IPv6 zone ("fe80::1%eth0"); Kubernetes does not.
        return [_IP_MESSAGE]
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return [_IP_MESSAGE]
    return []


def path_segment_messages(name: str) -> list[str]:
    """Check a name that must be usable as one URL path segment."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{bad}'" for bad in ("/", "%") if bad in name]
