"""A lean HTTP/1.1 server on raw asyncio streams, shared by the Runtime API emulator and the KMS/SNS stub.

It does only what those two need: keep-alive connections, Content-Length or chunked request bodies,
`Expect: 100-continue` (curl, used by awslambdaric's native client, sends it for larger bodies), and
handlers that may wait (the Runtime API's long-polled `GET /next`). No routing framework, no threads:
a request costs tens of microseconds here, so the emulator and the stub stay out of the measurements.
"""

import asyncio

_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error"}


class Request:
    __slots__ = ("method", "path", "headers", "body")

    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.headers = headers  # lower-case names
        self.body = body


async def _read_chunked(reader):
    parts = []
    while True:
        size_line = await reader.readline()
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            # trailers, up to the blank line
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _serve(app, writers):
    async def connection(reader, writer):
        writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                while lines and not lines[0]:
                    lines.pop(0)  # stray CRLF between requests
                if not lines:
                    continue
                method, path, version = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                if headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                if "content-length" in headers:
                    body = await reader.readexactly(int(headers["content-length"]))
                elif headers.get("transfer-encoding", "").lower() == "chunked":
                    body = await _read_chunked(reader)
                else:
                    body = b""
                status, resp_headers, resp_body = await app(Request(method, path, headers, body))
                keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                out = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"]
                for k, v in resp_headers.items():
                    out.append(f"{k}: {v}\r\n")
                out.append(f"Content-Length: {len(resp_body)}\r\n")
                if not keep:
                    out.append("Connection: close\r\n")
                out.append("\r\n")
                writer.write("".join(out).encode("latin-1") + resp_body)
                await writer.drain()
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            return
        finally:
            writers.discard(writer)
            try:
                writer.close()
            except Exception:
                pass

    return connection


class Server:
    """A listening server and its open connections."""

    def __init__(self, server, writers):
        self.server = server
        self.writers = writers
        self.port = server.sockets[0].getsockname()[1]

    def close(self):
        """Stops listening and closes every open connection (their handlers then end on their own)."""
        self.server.close()
        for w in list(self.writers):
            w.close()

    async def serve_forever(self):
        async with self.server:
            await self.server.serve_forever()


async def start_server(app, host="127.0.0.1", port=0):
    """Starts serving `app(request) -> (status, headers, body_bytes)` on a loopback port."""
    writers = set()
    server = await asyncio.start_server(_serve(app, writers), host, port, reuse_address=True, backlog=128)
    return Server(server, writers)
