"""Third-party SenML packs (RFC 8428 examples): base fields and times resolve as the RFC says."""

from __future__ import annotations

import cbor2
import pytest

from firmware_protocol.codec import DecodeContext
from firmware_protocol.codecs import get_codec
from firmware_protocol.errors import BadField, UnsupportedVersion
from firmware_protocol.model import Reading

SENML = get_codec("senml-json")

# RFC 8428 section 5.1.2, with bver 5 and relative t values.
RFC_CURRENT = (
    b'[{"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,"bu":"A","bver":5,'
    b'"n":"voltage","u":"V","v":120.1},{"n":"current","t":-5,"v":1.2},'
    b'{"n":"current","t":-4,"v":1.3},{"n":"current","t":-3,"v":1.4}]'
)


def test_rfc_pack_with_base_time_and_units() -> None:
    msg = SENML.decode(RFC_CURRENT)
    assert msg.device == "urn:dev:ow:10e2073a0108006"
    assert msg.ts_ms == 1_276_020_076_001
    assert msg.seq == 0  # third-party SenML has no sequence number
    assert msg.readings == (
        Reading("voltage", 120.1, unit="V"),
        Reading("current", 1.2, unit="A", offset_ms=-5000),
        Reading("current", 1.3, unit="A", offset_ms=-4000),
        Reading("current", 1.4, unit="A", offset_ms=-3000),
    )


def test_pack_without_time_is_relative_to_receipt() -> None:
    pack = b'[{"bn":"dev1:","n":"voltage","u":"V","v":120.1},{"n":"current","t":-1.5,"v":1}]'
    msg = SENML.decode(pack, DecodeContext(received_ms=1_700_000_000_000))
    assert msg.ts_ms == 1_700_000_000_000
    assert [r.offset_ms for r in msg.readings] == [0, -1500]
    with pytest.raises(BadField, match="relative time"):
        SENML.decode(pack)


def test_base_value_and_base_only_records() -> None:
    pack = (b'[{"bn":"m:","bt":1700000000,"bv":1000,"bu":"Wh"},'
            b'{"n":"energy","v":5},{"n":"energy","t":60,"v":7.5,"u":"kWh"}]')
    msg = SENML.decode(pack)
    assert [(r.value, r.unit) for r in msg.readings] == [(1005, "Wh"), (1007.5, "kWh")]
    assert msg.ts_ms == 1_700_000_000_000


def test_device_from_topic_when_no_base_name() -> None:
    pack = b'[{"n":"t","v":1,"bt":1700000000}]'
    assert SENML.decode(pack, DecodeContext(device="d7")).device == "d7"
    with pytest.raises(BadField, match="device"):
        SENML.decode(b'[{"bn":"other:","n":"t","v":1,"bt":1700000000}]',
                     DecodeContext(device="d7"))


@pytest.mark.parametrize(
    ("pack", "error", "where"),
    [
        (b'[{"bn":"d:","bt":1e9,"n":"a","v":1,"bver":11}]', UnsupportedVersion, "bver"),
        (b'[{"bn":"d:","bt":1e9,"n":"a","v":1,"x_":2}]', BadField, r"records\[0\]\.x_"),
        (b'[{"bn":"d:","bt":1e9,"n":"a","vs":"on"}]', BadField, r"records\[0\]\.vs"),
        (b'[{"bn":"d:","bt":1e9,"n":"a"}]', BadField, "no value"),
        (b'[{"bn":"d:","bt":1e9,"v":1}]', BadField, r"records\[0\]\.n"),
        (b'[{"bn":"d:","bt":1e9,"n":"a","v":"1"}]', BadField, r"records\[0\]\.v: has type str"),
        (b'[{"bn":"d:","bt":1e9,"n":"a","v":1},{"bn":"e:","n":"b","v":1}]', BadField, "device"),
        (b'{"bn":"d:"}', BadField, "array"),
        (b'[{"bn":"d:","bt":1e9}]', BadField, "no record with a value"),
    ],
)
def test_rejections_name_the_record_and_label(pack: bytes, error: type[Exception],
                                              where: str) -> None:
    with pytest.raises(error, match=where):
        SENML.decode(pack)


def test_cbor_pack_with_integer_labels_from_another_encoder() -> None:
    pack = [{-2: "urn:dev:ow:10e2073a01080063:", -3: 1_320_067_464, -4: "%RH",
             0: "humidity", 2: 20}, {0: "humidity", 6: 60, 2: 20.3}, {0: "alarm", 4: False}]
    msg = get_codec("senml-cbor").decode(cbor2.dumps(pack))
    assert msg.ts_ms == 1_320_067_464_000
    assert msg.readings == (Reading("humidity", 20, unit="%RH"),
                            Reading("humidity", 20.3, unit="%RH", offset_ms=60_000),
                            Reading("alarm", False, unit="%RH"))
