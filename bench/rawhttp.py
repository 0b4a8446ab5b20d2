"""A bare HTTP/1.1 keep-alive connection for load generation.

httpx spends milliseconds of CPU per request under concurrency (see sim_bench.py); on a 2-core box the load
generator would then measure itself. This speaks just enough HTTP/1.1 for our servers' answers
(Content-Length or chunked bodies, `Connection: close`) at a few microseconds of client CPU per request.
The request head is pre-encoded by the caller, so the hot loop only joins bytes.
"""

from __future__ import annotations

import asyncio


def encode_head(method: str, path: str, host: str, headers: dict[str, str]) -> bytes:
    """The request line and headers, without Content-Length (added per request when there is a body)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


class Connection:
    """One keep-alive connection; reconnects on the next request after a close or an error."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
        """Send one request (`head` from `encode_head`) and return (status, body)."""
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        try:
            writer.write(head + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            response_head = await reader.readuntil(b"\r\n\r\n")
            status = int(response_head[9:12])
            lowered = response_head.lower()
            if b"transfer-encoding: chunked" in lowered:
                parts = []
                while size := int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16):
                    parts.append((await reader.readexactly(size + 2))[:-2])
                await reader.readuntil(b"\r\n")
                content = b"".join(parts)
            elif (at := lowered.find(b"content-length:")) >= 0:
                at += len(b"content-length:")
                content = await reader.readexactly(int(lowered[at : lowered.index(b"\r\n", at)]))
            else:  # no framing: the body runs to the end of the connection
                content = await reader.read()
                self.close()
            if b"connection: close" in lowered:
                self.close()
            return status, content
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None
