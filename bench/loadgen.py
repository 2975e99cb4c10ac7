"""A minimal HTTP/1.1 keep-alive load generator on asyncio streams.

General-purpose clients (httpx) spend milliseconds of CPU per request, enough to become the
bottleneck on a small machine and squeeze every ratio towards 1; this one costs microseconds.
"""

import asyncio
import time
from collections import deque
from dataclasses import dataclass


@dataclass
class Request:
    method: str
    path: str
    body: bytes = b""
    headers: dict | None = None


async def _read_response(reader) -> tuple[int, bytes]:
    status = int((await reader.readline()).split()[1])
    length, chunked = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length)
    body = b""
    while size := int((await reader.readline()).strip(), 16):
        body += await reader.readexactly(size)
        await reader.readline()
    await reader.readline()
    return status, body


async def _connection(host, port, queue: deque, statuses: list, check):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while queue:
            request = queue.popleft()
            headers = {"Host": f"{host}:{port}", "Content-Length": str(len(request.body)), **(request.headers or {})}
            head = f"{request.method} {request.path} HTTP/1.1\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in headers.items()
            )
            writer.write(head.encode("latin-1") + b"\r\n" + request.body)
            status, body = await _read_response(reader)
            if check and not check(status):
                raise SystemExit(f"{request.method} {request.path} answered {status}: {body[:300]!r}")
            statuses.append(status)
    finally:
        writer.close()


async def _run(host, port, requests, concurrency, check):
    queue, statuses = deque(requests), []
    started = time.perf_counter()
    await asyncio.gather(*(_connection(host, port, queue, statuses, check) for _ in range(concurrency)))
    return len(statuses) / (time.perf_counter() - started), statuses


def run_load(host: str, port: int, requests: list[Request], concurrency: int, check=None) -> tuple[float, list[int]]:
    """Send every request once over `concurrency` keep-alive connections; returns (requests/s, statuses)."""
    return asyncio.run(_run(host, port, requests, concurrency, check))
