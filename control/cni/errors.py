"""CNI errors: the spec's error codes and the exception that carries one to stdout.

A plugin reports failure by printing ``{"cniVersion", "code", "msg",
"details"}`` on stdout and exiting non-zero. Codes 1-99 are the spec's
(1.0.0 and 1.1.0); codes from 100 up are this plugin's own.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENVIRONMENT = 4
IO_FAILURE = 5
DECODING_FAILURE = 6
INVALID_CONFIG = 7
TRY_AGAIN_LATER = 11
# STATUS (CNI 1.1): the plugin cannot serve ADD now.
NOT_AVAILABLE = 50

# The plugin's own codes.
IP_COMMAND_FAILED = 100
NFT_COMMAND_FAILED = 101
RANGE_EXHAUSTED = 102
CHECK_FAILED = 103


class CNIError(Exception):
    """A failure reported to the runtime as a CNI error result."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(f"{msg}: {details}" if details else msg)
        self.code = code
        self.msg = msg
        self.details = details

    def to_json(self, cni_version: str) -> dict[str, Any]:
        """Build the error result object the spec defines."""
        body: dict[str, Any] = {"cniVersion": cni_version, "code": self.code, "msg": self.msg}
        if self.details:
            body["details"] = self.details
        return body


def invalid_config(field: str, value: object, fix: str) -> CNIError:
    """Build the error for a bad configuration field, naming the field, its value and the fix."""
    return CNIError(INVALID_CONFIG, f"invalid network configuration field {field}={value!r}", fix)
