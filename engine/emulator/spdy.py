"""``kubectl exec`` over SPDY/3.1, the streaming protocol kubectl before 1.30 speaks (later ones use
WebSocket): the HTTP upgrade, SPDY framing with its zlib-compressed header blocks, and the remote-command
stream protocols (``v4.channel.k8s.io`` down to ``channel.k8s.io``). The client opens one stream per
channel (error, stdin, stdout, stderr, resize), naming it in a ``streamtype`` header; the command's output
goes down the stdout stream and its status down the error stream.
"""
from __future__ import annotations

import asyncio
import json
import struct
import zlib
from typing import Callable

from aiohttp import web

PROTOCOLS = ("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io")
_SYN_STREAM, _SYN_REPLY, _RST_STREAM, _SETTINGS, _PING, _GOAWAY = 1, 2, 3, 4, 6, 7
_FIN = 0x01

# The header compression dictionary of the SPDY/3 specification (section 2.6.10.1): length-prefixed header
# names and values, then common value text.
_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language accept-ranges age "
    "allow authorization cache-control connection content-base content-encoding content-language content-length "
    "content-location content-md5 content-range content-type date etag expect expires from host if-match "
    "if-modified-since if-none-match if-range if-unmodified-since last-modified location max-forwards pragma "
    "proxy-authenticate proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
    "user-agent vary via warning www-authenticate method get status 200|OK version HTTP/1.1 url public set-cookie "
    "keep-alive origin").split()
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.replace("|", " ").encode() for w in _WORDS) + _TAIL.encode()
assert zlib.adler32(DICTIONARY) == 0xE3C6A7C2, "the SPDY/3 dictionary is misspelt"


def wants_spdy(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower().startswith("spdy/")


def _control(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8003, kind, (flags << 24) | len(payload)) + payload


def _data(stream: int, payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">II", stream & 0x7FFFFFFF, (flags << 24) | len(payload)) + payload


class _Reader:
    """What aiohttp's protocol feeds after the upgrade: bytes into a queue (EOF as None)."""

    def __init__(self, queue: asyncio.Queue) -> None:
        self.queue = queue

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self.queue.put_nowait(None)


class Session:
    """One upgraded connection: reads frames, answers stream creation, writes the command's result."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self.write = write
        self.inflate = zlib.decompressobj(zdict=DICTIONARY)
        self.deflate = zlib.compressobj(zdict=DICTIONARY)
        self.buffer = b""
        self.streams: dict[str, int] = {}  # streamtype -> stream id

    def headers(self, block: bytes) -> dict[str, str]:
        raw = self.inflate.decompress(block)
        (count,), pos, out = struct.unpack(">I", raw[:4]), 4, {}
        for _ in range(count):
            (n,) = struct.unpack(">I", raw[pos:pos + 4])
            name = raw[pos + 4:pos + 4 + n].decode()
            pos += 4 + n
            (n,) = struct.unpack(">I", raw[pos:pos + 4])
            out[name.lower()] = raw[pos + 4:pos + 4 + n].decode()
            pos += 4 + n
        return out

    def reply(self, stream: int) -> None:
        block = self.deflate.compress(struct.pack(">I", 0)) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        self.write(_control(_SYN_REPLY, 0, struct.pack(">I", stream) + block))

    def feed(self, data: bytes) -> None:
        """Handle every complete frame in ``data`` (plus what was buffered)."""
        self.buffer += data
        while len(self.buffer) >= 8:
            word, flags_len = struct.unpack(">II", self.buffer[:8])
            length = flags_len & 0xFFFFFF
            if len(self.buffer) < 8 + length:
                return
            payload, self.buffer = self.buffer[8:8 + length], self.buffer[8 + length:]
            if not word & 0x80000000:
                continue  # data (stdin): nothing reads it
            kind = word & 0xFFFF
            if kind == _SYN_STREAM:
                stream = struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
                headers = self.headers(payload[10:])
                self.streams[headers.get("streamtype", "")] = stream
                self.reply(stream)
            elif kind == _PING:
                self.write(_control(_PING, 0, payload))


async def serve(request: web.Request, expected: set[str], run: Callable[[], tuple[int, str]],
                timeout: float = 30.0) -> web.StreamResponse:
    """Upgrade ``request`` to SPDY, wait for the ``expected`` streams, send ``run()``'s (exit code, output)."""
    offered = [p.strip() for v in request.headers.getall("X-Stream-Protocol-Version", []) for p in v.split(",")]
    protocol = next((p for p in PROTOCOLS if p in offered), "")
    resp = web.StreamResponse(status=101, headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
                                                   **({"X-Stream-Protocol-Version": protocol} if protocol else {})})
    await resp.prepare(request)
    transport = request.transport
    assert transport is not None
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    request.protocol.set_parser(_Reader(queue))  # type: ignore[arg-type]
    request.protocol.keep_alive(False)
    session = Session(transport.write)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    closed = False
    while not expected <= set(session.streams):
        chunk = await asyncio.wait_for(queue.get(), max(0.0, deadline - loop.time()))
        if chunk is None:
            closed = True
            break
        session.feed(chunk)
    if not closed:
        rc, out = run()
        if out and "stdout" in session.streams:
            transport.write(_data(session.streams["stdout"], out.encode()))
        for name in ("stdout", "stderr"):
            if name in session.streams:
                transport.write(_data(session.streams[name], b"", _FIN))
        if protocol == "v4.channel.k8s.io":
            status = {"metadata": {}, "status": "Success"} if rc == 0 else {
                "metadata": {}, "status": "Failure", "message": f"command terminated with non-zero exit code: {rc}",
                "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": str(rc)}]}}
            error = json.dumps(status, separators=(",", ":")).encode()
        else:
            error = b"" if rc == 0 else f"command terminated with non-zero exit code: {rc}".encode()
        transport.write(_data(session.streams["error"], error, _FIN))
        try:  # the client closes the connection once it has read everything
            while (chunk := await asyncio.wait_for(queue.get(), max(0.0, deadline - loop.time()))) is not None:
                session.feed(chunk)
        except asyncio.TimeoutError:
            pass
    transport.close()
    return resp
