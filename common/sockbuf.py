"""Writing a non-blocking socket from a buffer of our own (the gateway's MQTT socket wrapper
queues PUBACKs paho knows nothing of; the cloud and tools may use it too). The simulator keeps
its own copy of this loop: it imports only the device contract, as device firmware would.

>>> class Half:  # a kernel that takes three bytes a call, then would block
...     def __init__(self): self.calls = 0
...     def send(self, data):
...         self.calls += 1
...         if self.calls > 2: raise BlockingIOError()
...         return min(3, len(data))
>>> buf = bytearray(b"abcdefgh")
>>> send_buffered(Half(), buf), bytes(buf)
(False, b'gh')
"""

from __future__ import annotations

import ssl
from typing import Any

#: What a non-blocking (TLS) socket raises when it cannot move bytes right now.
WOULD_BLOCK = (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError)


def send_buffered(sock: Any, buf: bytearray) -> bool:
    """Send what ``buf`` holds, removing what the kernel took; True when nothing is left.

    On a dead connection the bytes are dropped (True): MQTT redelivers what was not
    acknowledged, and paho notices the dead connection on its next read or write."""
    while buf:
        try:
            sent = sock.send(buf)
        except WOULD_BLOCK:
            return False
        except OSError:
            buf.clear()
            return True
        del buf[:sent]
    return True
