"""Golden vectors: every codec matches firmware_protocol/vectors/, and so does the C encoder.

The C test writes a driver that builds each vector's frame through the C API, compiles it with
the system ``cc`` (C99, warnings as errors) and compares its output byte for byte with the
vectors and with the Python encoder. Without ``cc`` it skips, unless ``CI=true``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import firmware_protocol
from firmware_protocol import errors
from firmware_protocol.codecs import CODEC_NAMES, get_codec
from firmware_protocol.codecs._units import UNIT_CODES
from firmware_protocol.codecs.json import from_object
from firmware_protocol.model import Message

PKG = Path(firmware_protocol.__file__).parent
VECTORS = json.loads((PKG / "vectors" / "messages.json").read_text(encoding="utf-8"))
INVALID = json.loads((PKG / "vectors" / "invalid_binary.json").read_text(encoding="utf-8"))


def _bytes(codec: str, text: str) -> bytes:
    return text.encode() if "json" in codec else bytes.fromhex(text)


def _message(vector: dict[str, Any]) -> Message:
    return from_object(vector["message"])


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
@pytest.mark.parametrize("codec_name", CODEC_NAMES)
def test_codecs_match_golden_vectors(vector: dict[str, Any], codec_name: str) -> None:
    codec = get_codec(codec_name)
    expected = _bytes(codec_name, vector["encodings"][codec_name])
    msg = _message(vector)
    assert codec.encode(msg) == expected
    assert codec.decode(expected) == msg


@pytest.mark.parametrize("case", INVALID, ids=[c["name"] for c in INVALID])
def test_invalid_binary_vectors_raise_their_error(case: dict[str, str]) -> None:
    with pytest.raises(getattr(errors, case["error"])):
        get_codec("binary").decode(bytes.fromhex(case["hex"]))


def test_c_unit_table_matches_python() -> None:
    source = (PKG / "c" / "iotgw_frame.c").read_text()
    start = source.index("UNIT_CODES[] = {")
    table = source[start : source.index("};", start)]
    assert tuple(re.findall(r'"([^"]*)"', table)) == UNIT_CODES


# --- the C reference encoder ---------------------------------------------------------------


def _c_string(text: str) -> str:
    """A C string literal; every non-alphanumeric byte as a 3-digit octal escape."""
    return '"' + "".join(chr(b) if chr(b).isalnum() and b < 128 else f"\\{b:03o}"
                         for b in text.encode()) + '"'


def _c_int(value: int) -> str:
    if value == -(2**63):
        return "(-INT64_C(9223372036854775807) - 1)"
    return f"INT64_C({value})"


def _c_reading(i: int, reading: dict[str, Any], wire: dict[str, Any]) -> str:
    unit = _c_string(reading["unit"]) if "unit" in reading else "NULL"
    extra = (f"iotgw_extra e{i} = {{{unit}, (int32_t){_c_int(reading.get('offset_ms', 0))}, "
             f"{reading.get('quality', 0)}}};\n")
    name, value = _c_string(reading["sensor"]), reading["value"]
    kind = wire["kind"]
    if kind == "dec":
        call = f"iotgw_add_decimal(&f, {name}, {wire['mantissa']}, {wire['exponent']}, &e{i})"
    elif kind == "bool":
        call = f"iotgw_add_bool(&f, {name}, {int(value)}, &e{i})"
    elif kind in ("i32", "i64"):
        call = f"iotgw_add_int(&f, {name}, {_c_int(value)}, &e{i})"
    else:
        call = f"iotgw_add_double(&f, {name}, {float(value).hex()}, &e{i})"
    return f"    {{ {extra}    check(f.status == IOTGW_OK && {call} == IOTGW_OK); }}\n"


def _c_vector(vector: dict[str, Any]) -> str:
    m = vector["message"]
    site = _c_string(m["site"]) if "site" in m else "NULL"
    body = (f"  {{\n    iotgw_frame f;\n    check(iotgw_begin(&f, buf, sizeof buf, "
            f"{_c_string(m['device'])}, {site}, {m['seq']}u, UINT64_C({m['ts']})) == IOTGW_OK);\n")
    for i, (reading, wire) in enumerate(zip(m["readings"], vector["wire"], strict=True)):
        body += _c_reading(i, reading, wire)
    return body + "    print_hex(buf, iotgw_finish(&f));\n  }\n"


DRIVER_HEAD = """\
#include <stdio.h>
#include <stdlib.h>
#include "iotgw_frame.h"

static uint8_t buf[IOTGW_FRAME_MAX];

#define check(ok) \\
  do { if (!(ok)) { printf("CHECK FAILED line %d\\n", __LINE__); exit(1); } } while (0)

static void print_hex(const uint8_t *p, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) printf("%02x", p[i]);
  printf("\\n");
}

static void negative_cases(void) {
  iotgw_frame f;
  uint8_t small[25]; /* header 16 + record 7 + CRC 2 */
  double zero = 0.0;
  check(iotgw_begin(&f, buf, sizeof buf, "", NULL, 1u, UINT64_C(1700000000000)) == IOTGW_E_ARG);
  check(iotgw_begin(&f, buf, sizeof buf, "d", NULL, 1u, UINT64_C(0)) == IOTGW_E_ARG);
  check(iotgw_begin(&f, buf, sizeof buf, "d", NULL, 1u, UINT64_C(1700000000000)) == IOTGW_OK);
  check(iotgw_add_double(&f, "nan", zero / zero, NULL) == IOTGW_E_ARG);
  check(iotgw_add_bool(&f, "later", 1, NULL) == IOTGW_E_ARG); /* errors are sticky */
  check(iotgw_finish(&f) == 0);
  check(iotgw_begin(&f, small, sizeof small, "d", NULL, 1u, UINT64_C(1700000000000)) == IOTGW_OK);
  check(iotgw_add_bool(&f, "abcd", 1, NULL) == IOTGW_OK);
  check(iotgw_add_bool(&f, "e", 1, NULL) == IOTGW_E_SPACE);
  check(iotgw_finish(&f) == 0);
  check(iotgw_begin(&f, buf, sizeof buf, "d", NULL, 1u, UINT64_C(1700000000000)) == IOTGW_OK);
  check(iotgw_finish(&f) == 0); /* a frame needs a reading */
  check(iotgw_crc16((const uint8_t *)"123456789", 9) == 0x29B1);
  puts("negative cases ok");
}

int main(void) {
  negative_cases();
"""


def _compiler() -> str:
    cc = shutil.which("cc")
    if cc is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no C compiler 'cc' on PATH; CI needs one (apt-get install gcc)")
        pytest.skip("no C compiler 'cc' on PATH: install gcc (apt-get install gcc) to run this")
    return cc


def test_c_encoder_is_byte_identical_to_vectors_and_python(tmp_path: Path) -> None:
    cc = _compiler()
    driver = tmp_path / "driver.c"
    driver.write_text(DRIVER_HEAD + "".join(_c_vector(v) for v in VECTORS) + "  return 0;\n}\n")
    exe = tmp_path / "driver"
    subprocess.run(
        [cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wconversion", "-O1",
         "-I", str(PKG / "c"), str(driver), str(PKG / "c" / "iotgw_frame.c"), "-o", str(exe)],
        check=True, capture_output=True, text=True, timeout=120,
    )
    result = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "negative cases ok"
    assert len(lines) == 1 + len(VECTORS)
    binary = get_codec("binary")
    for vector, line in zip(VECTORS, lines[1:], strict=True):
        assert line == vector["encodings"]["binary"], vector["name"]
        assert bytes.fromhex(line) == binary.encode(_message(vector)), vector["name"]
