"""Unit codes of binary frame v1: a unit in this table travels as one byte (``0x80 | code``).

The table is frozen for frame version 1 (SPEC.md, "Unit codes"); a unit not in it travels as a
string. Names follow the SenML units registry (RFC 8428 section 12.1, RFC 8798). The C
reference encoder holds the same table; a test checks they agree.
"""

from __future__ import annotations

UNIT_CODES: tuple[str, ...] = (
    "m", "kg", "g", "s", "A", "K", "cd", "mol", "Hz", "rad",
    "sr", "N", "Pa", "J", "W", "C", "V", "F", "Ohm", "S",
    "Wb", "T", "H", "Cel", "lm", "lx", "Bq", "Gy", "Sv", "kat",
    "m2", "m3", "l", "m/s", "m/s2", "m3/s", "l/s", "W/m2", "cd/m2", "bit",
    "bit/s", "lat", "lon", "pH", "dB", "dBW", "Bspl", "count", "/", "%",
    "%RH", "%EL", "EL", "1/s", "1/min", "beat/min", "beats", "S/m", "B", "VA",
    "VAs", "var", "vars", "J/m", "kg/m3", "deg", "NTU", "ms", "min", "h",
    "MHz", "kW", "kVA", "kvar", "Ah", "Wh", "kWh", "varh", "kvarh", "kVAh",
    "Wh/km", "KiB", "GB", "Mbit/s", "B/s", "MB/s", "mV", "mA", "dBm", "ug/m3",
    "mm/h", "m/h", "ppm", "/100", "/1000", "hPa", "mm", "cm", "km", "km/h",
    "ppb", "ppt",
)  # fmt: skip

#: Unit string -> code.
UNIT_INDEX: dict[str, int] = {unit: code for code, unit in enumerate(UNIT_CODES)}
