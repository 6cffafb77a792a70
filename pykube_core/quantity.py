"""Kubernetes resource quantities ("100m", "1Gi", "129e6") with exact arithmetic.

A Quantity keeps its value as an integer count of nano-units, because
Kubernetes rounds every parsed value to nano precision (away from zero), and
adding or subtracting such values stays at that precision. Integers make add,
subtract, compare and hash exact and cheap, with no float anywhere.

Besides the value, a Quantity keeps the format of the string it came from:
DecimalSI "129M", BinarySI "123Mi" or DecimalExponent "129e6". str() prints
the canonical form Kubernetes prints in that format, which uses the largest
suffix that keeps the mantissa an integer. So "1.5" prints as "1500m" and
"1.5Ti" as "1536Gi". Like Kubernetes, parsing keeps the input text when it
already looks canonical, quirks included: "+1" stays "+1" and "1E3" stays
"1E3" (see ``_keeps_input_text``).

Equality, ordering and hashing compare values only: "1Gi" == "1073741824".

Differences from Kubernetes (k8s.io/apimachinery/pkg/api/resource, 2025):

- A string needs at least one digit: "", ".", "+", "Mi" and "e3" are rejected,
  where Kubernetes parses the last four as zero.
- Mantissas of more than MAX_MANTISSA_DIGITS digits and exponents beyond
  +/-MAX_EXPONENT are rejected; Kubernetes accepts any int32 exponent.
- Integer results (``value``, ``milli_value``) never overflow; Kubernetes'
  int64 accessors wrap silently.
- A BinarySI value of 1024Ei or more prints with the "Ei" suffix and a larger
  mantissa, where Kubernetes finds no suffix and drops the exponent.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from pykube_core.errors import InvalidQuantityError

NANOS_PER_UNIT = 10**9
NANOS_PER_MILLI = 10**6

# Parsing caps a BinarySI magnitude at the largest int64, as Kubernetes does.
MAX_BINARY_SI_NANOS = (2**63 - 1) * NANOS_PER_UNIT

# CPython refuses int/str conversions of more than 4300 digits by default,
# and no resource quantity needs more than a few dozen, so these bounds keep
# every value printable with a wide margin.
# NOTE: Kubernetes has no such bounds, so a stored object with a longer
# quantity would be rejected here; none is known to exist.
MAX_MANTISSA_DIGITS = 1000
MAX_EXPONENT = 1000

QUANTITY_PATTERN = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
FORMAT_MESSAGE = f"quantities must match the regular expression '{QUANTITY_PATTERN}'"
SUFFIX_MESSAGE = (
    "unable to parse quantity's suffix (use n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, "
    "Pi, Ei, or e/E followed by an integer exponent)"
)


class Format(enum.Enum):
    """Print format of a quantity; the values are Kubernetes' names."""

    DECIMAL_EXPONENT = "DecimalExponent"
    BINARY_SI = "BinarySI"
    DECIMAL_SI = "DecimalSI"


_DECIMAL_SUFFIXES = {
    "n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18,
}  # fmt: skip
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIX_OF_EXPONENT = {exponent: suffix for suffix, exponent in _DECIMAL_SUFFIXES.items()}
_BINARY_SUFFIX_OF_POWER = {exponent // 10: suffix for suffix, exponent in _BINARY_SUFFIXES.items()}
_MAX_BINARY_POWER = 6

# The same grammar as Kubernetes' scanner: sign, integer digits, optional
# fraction, then suffix letters with an optional signed exponent.
_SCAN = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*(?:[+-]?[0-9]*))")
_EXPONENT = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True, eq=False, repr=False)
class Quantity:
    """An exact resource quantity: ``nanos`` nano-units printed in ``format``.

    ``text`` is the string str() returns instead of the canonical form; it is
    "" except for quantities parse_quantity reads from a canonical-looking
    string.
    """

    nanos: int
    format: Format = Format.DECIMAL_SI
    text: str = ""

    @classmethod
    def from_milli(cls, milli: int, format: Format = Format.DECIMAL_SI) -> Quantity:
        """Build a quantity of ``milli`` thousandths of a unit."""
        return cls(milli * NANOS_PER_MILLI, format)

    @classmethod
    def from_units(cls, units: int, format: Format = Format.DECIMAL_SI) -> Quantity:
        """Build a quantity of ``units`` whole units (cores, bytes)."""
        return cls(units * NANOS_PER_UNIT, format)

    def value(self) -> int:
        """Return the value in whole units, rounded away from zero as Kubernetes' Value does."""
        return _divide_away_from_zero(self.nanos, NANOS_PER_UNIT)

    def milli_value(self) -> int:
        """Return the value in milli-units, rounded away from zero as Kubernetes' MilliValue does."""
        return _divide_away_from_zero(self.nanos, NANOS_PER_MILLI)

    def is_zero(self) -> bool:
        return self.nanos == 0

    def __str__(self) -> str:
        return self.text or format_canonical(self.nanos, self.format)

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r}, {self.format.value})"

    def __add__(self, other: Quantity) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        # Kubernetes' Add takes the other operand's format when this one is zero.
        format = other.format if self.nanos == 0 else self.format
        return Quantity(self.nanos + other.nanos, format)

    def __sub__(self, other: Quantity) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        format = other.format if self.nanos == 0 else self.format
        return Quantity(self.nanos - other.nanos, format)

    def __neg__(self) -> Quantity:
        return Quantity(-self.nanos, self.format)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.nanos == other.nanos

    def __hash__(self) -> int:
        return hash(self.nanos)

    def __lt__(self, other: Quantity) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.nanos < other.nanos

    def __le__(self, other: Quantity) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.nanos <= other.nanos

    def __gt__(self, other: Quantity) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.nanos > other.nanos

    def __ge__(self, other: Quantity) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.nanos >= other.nanos


def _divide_away_from_zero(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


@dataclass(frozen=True)
class _Scanned:
    """The parts of a quantity string, named as in Kubernetes' scanner."""

    negative: bool
    numerator: str  # integer digits without leading zeros, "0" when none remain
    denominator: str  # fraction digits as written
    suffix: str


def parse_quantity(text: str) -> Quantity:
    """Parse a Kubernetes quantity string such as "100m", "1.5Gi" or "1e3".

    Raises InvalidQuantityError naming the string and the expected form. The
    string must not have surrounding whitespace; a JSON decoder strips it first.
    """
    if text == "0":
        return Quantity(0, Format.DECIMAL_SI, "0")
    scanned = _scan(text)
    base, exponent, format = _interpret_suffix(text, scanned.suffix)
    nanos = _to_nanos(scanned.numerator + scanned.denominator, len(scanned.denominator), base, exponent)

    if format is Format.BINARY_SI and nanos > MAX_BINARY_SI_NANOS:
        nanos = MAX_BINARY_SI_NANOS
    if format is Format.BINARY_SI and 0 < nanos < NANOS_PER_UNIT:
        # Kubernetes has no binary suffix below one unit.
        format = Format.DECIMAL_SI
    if scanned.negative:
        nanos = -nanos

    kept_text = text if _keeps_input_text(scanned, base, exponent) else ""
    return Quantity(nanos, format, kept_text)


def _scan(text: str) -> _Scanned:
    match = _SCAN.fullmatch(text)
    if match is None:
        raise InvalidQuantityError("", text, FORMAT_MESSAGE)
    sign, integer, fraction, suffix = match.group(1, 2, 3, 4)
    fraction = fraction or ""
    if not integer and not fraction:
        raise InvalidQuantityError("", text, f"{FORMAT_MESSAGE}, with at least one digit")
    if len(integer) + len(fraction) > MAX_MANTISSA_DIGITS:
        raise InvalidQuantityError(
            "", text, f"has more than {MAX_MANTISSA_DIGITS} digits before its suffix"
        )
    return _Scanned(sign == "-", integer.lstrip("0") or "0", fraction, suffix)


def _interpret_suffix(text: str, suffix: str) -> tuple[int, int, Format]:
    """Return (base, exponent, format) for a suffix such as "Mi", "k" or "e3"."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], Format.DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], Format.BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE" and _EXPONENT.fullmatch(suffix[1:]):
        exponent = int(suffix[1:])
        if abs(exponent) > MAX_EXPONENT:
            raise InvalidQuantityError(
                "", text, f"exponent {exponent} is out of range; use -{MAX_EXPONENT} to {MAX_EXPONENT}"
            )
        return 10, exponent, Format.DECIMAL_EXPONENT
    raise InvalidQuantityError("", text, SUFFIX_MESSAGE)


def _to_nanos(digits: str, fraction_length: int, base: int, exponent: int) -> int:
    """Return digits * 10**-fraction_length * base**exponent in nanos, magnitude rounded up."""
    mantissa = int(digits)
    decimal_shift = 9 - fraction_length
    if base == 10:
        decimal_shift += exponent
    else:
        mantissa <<= exponent
    scale: int = 10 ** abs(decimal_shift)
    if decimal_shift >= 0:
        return mantissa * scale
    # Kubernetes rounds a non-zero value finer than 1n up to the next nano,
    # so that a request for a tiny amount still gets some.
    return -(-mantissa // scale)


def _keeps_input_text(scanned: _Scanned, base: int, exponent: int) -> bool:
    """Tell whether Kubernetes' String() returns the parsed text unchanged.

    Kubernetes' parser has a fast path for values that fit an int64 at nano
    scale, and on that path it keeps the input string when the digits look
    canonical. The rule below restates those conditions; it is why "+1",
    "01" and "1E3" print as written while "1000" prints as "1k".
    """
    digits = scanned.numerator + scanned.denominator
    if base == 10:
        fits = len(digits) <= 18 and exponent - len(scanned.denominator) >= -9
        scale = exponent - len(scanned.denominator)
        return fits and scale % 3 == 0 and not digits.endswith("000") and digits[0] != "0"
    if scanned.denominator:
        return False
    # Kubernetes estimates the decimal digits of 2**exponent as exponent*3/10.
    if 15 - len(scanned.numerator) - exponent * 3 // 10 - 1 < 0:
        return False
    value = int(scanned.numerator)
    fits = value << exponent <= 2**63 - 1
    return fits and exponent % 10 == 0 and value & 7 != 0


def format_canonical(nanos: int, format: Format) -> str:
    """Format ``nanos`` nano-units in Kubernetes' canonical form for ``format``."""
    if nanos == 0:
        return "0"
    sign = "-" if nanos < 0 else ""
    magnitude = abs(nanos)

    # BinarySI prints only whole numbers of at least 1Ki; anything else falls
    # back to DecimalSI rather than losing precision.
    if format is Format.BINARY_SI:
        if magnitude < 1024 * NANOS_PER_UNIT or magnitude % NANOS_PER_UNIT:
            format = Format.DECIMAL_SI
        else:
            return sign + _format_binary(magnitude // NANOS_PER_UNIT)
    return sign + _format_decimal(magnitude, format)


def _format_binary(units: int) -> str:
    power = 0
    while power < _MAX_BINARY_POWER and units % 1024 == 0:
        units //= 1024
        power += 1
    return f"{units}{_BINARY_SUFFIX_OF_POWER.get(power, '')}"


def _format_decimal(magnitude: int, format: Format) -> str:
    # Move every factor of ten into the exponent, then lower the exponent to
    # a multiple of three: 1500000000n is 15e-1, printed as 1500e-3 = "1500m".
    exponent = -9
    while magnitude % 10 == 0:
        magnitude //= 10
        exponent += 1
    while exponent % 3:
        magnitude *= 10
        exponent -= 1

    if format is Format.DECIMAL_SI and exponent in _DECIMAL_SUFFIX_OF_EXPONENT:
        return f"{magnitude}{_DECIMAL_SUFFIX_OF_EXPONENT[exponent]}"
    # DecimalSI has no suffix beyond "E" (1e18), so larger values use "e".
    if exponent == 0:
        return str(magnitude)
    return f"{magnitude}e{exponent}"
