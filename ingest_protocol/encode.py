"""Writing the contract's JSON: reading and anomaly entries, and the batch body around them.

Built by hand, because it runs for every reading: strings through :func:`json_string`, numbers
with ``repr`` (the data model has no NaN nor infinities, so ``repr`` is valid JSON), booleans
literally. A sender keeps each entry's text (the gateway buffers it) and joins them into a body
with :func:`batch_body`, so the same entries always give the same bytes.

A version-1 body carries no ``v``: absence means 1, and bodies stay byte-identical to what
older gateways built, so a retry after an upgrade still matches its Idempotency-Key.

>>> body = batch_body("gw-1", "b-1", 5, ['{"device":"d"}'], [])
>>> body
b'{"gateway_id":"gw-1","batch_id":"b-1","sent_at":5,"readings":[{"device":"d"}],"anomalies":[]}'
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence

from firmware_protocol.model import Message
from ingest_protocol.model import VERSION, AnomalyRecord


@functools.lru_cache(maxsize=65536)
def json_string(text: str) -> str:
    """A JSON string literal (names repeat endlessly, so it is cached)."""
    return json.dumps(text, ensure_ascii=False)


def reading_objects(msg: Message) -> str:
    """A device message's readings as the batch's ``readings`` entries, comma-joined JSON.

    >>> from firmware_protocol.model import Reading
    >>> m = Message("d'1", 7, 1000, (Reading("t", 1.5, unit="Cel"), Reading("on", True)),
    ...             site="s")
    >>> first, second = json.loads("[" + reading_objects(m) + "]")
    >>> first
    {'device': "d'1", 'sensor': 't', 'ts': 1000, 'value': 1.5, 'seq': 7, 'unit': 'Cel', 'site': 's'}
    >>> second["value"], json.loads(json_string('quote " and \\\\ backslash'))
    (True, 'quote " and \\\\ backslash')
    """
    head = f'{{"device":{json_string(msg.device)},"sensor":'
    tail = f',"seq":{msg.seq}'
    site = "}" if msg.site is None else f',"site":{json_string(msg.site)}}}'
    parts = []
    for r in msg.readings:
        v = r.value
        value = ("true" if v else "false") if isinstance(v, bool) else repr(v)
        extra = "" if r.unit is None else f',"unit":{json_string(r.unit)}'
        if r.quality:
            extra += f',"quality":{int(r.quality)}'
        parts.append(f'{head}{json_string(r.sensor)},"ts":{msg.ts_ms + r.offset_ms},'
                     f'"value":{value}{tail}{extra}{site}')
    return ",".join(parts)


def anomaly_object(event: AnomalyRecord) -> str:
    """One ``anomalies`` entry, compact JSON.

    >>> anomaly_object(AnomalyRecord("d", "t", 1_700_000_000_000, 9.0, 0.5, "hst"))[:48]
    '{"device":"d","sensor":"t","ts":1700000000000,"v'
    """
    return json.dumps(event.to_dict(), separators=(",", ":"))


def batch_body(gateway_id: str, batch_id: str, sent_at: int, readings: Sequence[str],
               anomalies: Sequence[str], version: int = VERSION) -> bytes:
    """The batch around already-serialised entries (``version`` 1 leaves ``v`` out)."""
    env: dict[str, object] = {} if version == 1 else {"v": version}
    env.update(gateway_id=gateway_id, batch_id=batch_id, sent_at=sent_at)
    head = json.dumps(env, separators=(",", ":"))
    return (f'{head[:-1]},"readings":[{",".join(readings)}],'
            f'"anomalies":[{",".join(anomalies)}]}}').encode()
