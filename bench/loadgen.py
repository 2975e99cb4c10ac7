"""A minimal HTTP/1.1 keep-alive load generator on asyncio streams.

General-purpose clients (httpx) spend milliseconds of CPU per request, enough to become the
bottleneck on a small machine and squeeze every ratio towards 1; this one costs microseconds.

The connections are opened once and spread evenly over the server's worker processes
(`open_balanced`). Workers sharing one listening socket take whichever connections they accept
first, and one worker often takes all of a burst: a run then measures one process, at about
60 % of the rate of two, by chance.
"""

import asyncio
import os
import time
from collections import Counter, deque
from dataclasses import dataclass


@dataclass
class Request:
    method: str
    path: str
    body: bytes = b""
    headers: dict | None = None


class Connection:
    def __init__(self, host: str, port: int, reader, writer):
        self.host, self.port, self.reader, self.writer = host, port, reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> "Connection":
        return cls(host, port, *await asyncio.open_connection(host, port))

    def close(self) -> None:
        self.writer.close()

    async def send(self, request: Request) -> tuple[int, bytes]:
        headers = {"Host": f"{self.host}:{self.port}", "Content-Length": str(len(request.body))}
        headers.update(request.headers or {})
        head = f"{request.method} {request.path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(head.encode("latin-1") + b"\r\n" + request.body)
        return await self._response()

    async def _response(self) -> tuple[int, bytes]:
        reader = self.reader
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


async def open_balanced(host: str, port: int, count: int, workers: list[int], probe: Request) -> list[Connection]:
    """`count` connections, as evenly spread over the processes `workers` as `count` allows.

    Each new connection sends `probe` (so that a worker has accepted it), and is kept only while
    the worker holding its other end has fewer than its share.
    """
    share = -(-count // len(workers))
    kept, held = [], Counter()
    for _ in range(count * 50):
        if len(kept) == count:
            return kept
        connection = await Connection.open(host, port)
        await connection.send(probe)
        owner = _server_end_owner(port, connection.writer.get_extra_info("sockname")[1], workers)
        if owner is not None and held[owner] < share:
            held[owner] += 1
            kept.append(connection)
        else:
            connection.close()
    raise SystemExit(f"could not spread {count} connections over workers {workers}: {dict(held)}")


def _server_end_owner(port: int, client_port: int, workers: list[int]) -> int | None:
    """Which of `workers` holds the server's socket of the loopback connection from `client_port`."""
    return _holder(workers, _socket_inode(port, remote_port=client_port))


def _socket_inode(port: int, *, remote_port: int | None = None, state: str | None = None) -> str | None:
    """The inode of the IPv4 TCP socket bound to local `port` (and connected to `remote_port`, or
    in `state`, a /proc/net/tcp state code), from the kernel's table."""
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            local, remote = (int(address.rsplit(":", 1)[1], 16) for address in fields[1:3])
            if local == port and remote_port in (None, remote) and state in (None, fields[3]):
                return fields[9]
    return None


def _holder(pids: list[int], inode: str | None) -> int | None:
    """Which of `pids` has socket `inode` open."""
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        for fd in os.listdir(fd_dir):
            try:
                if os.readlink(f"{fd_dir}/{fd}") == target:
                    return pid
            except OSError:
                continue
    return None


async def run_load(connections: list[Connection], requests: list[Request], check=None) -> tuple[float, list[int]]:
    """Send every request once, one in flight per connection; returns (requests/s, statuses)."""
    queue, statuses = deque(requests), []

    async def drain(connection):
        while queue:
            request = queue.popleft()
            status, body = await connection.send(request)
            if check and not check(status):
                raise SystemExit(f"{request.method} {request.path} answered {status}: {body[:300]!r}")
            statuses.append(status)

    started = time.perf_counter()
    await asyncio.gather(*(drain(connection) for connection in connections))
    return len(statuses) / (time.perf_counter() - started), statuses


def worker_pids(server_pid: int, port: int) -> list[int]:
    """The processes that accept connections on `port`: the server's children holding its
    listening socket (not, say, multiprocessing's resource tracker), or the server itself."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == server_pid:
                        children.append(int(entry))
            except OSError:
                continue
    listening = _socket_inode(port, state="0A")
    return sorted(pid for pid in children if _holder([pid], listening)) or [server_pid]


def connections_held(port: int, connections: list[Connection], workers: list[int]) -> Counter:
    """How many of `connections` each worker holds (to print with the figures)."""
    return Counter(
        _server_end_owner(port, connection.writer.get_extra_info("sockname")[1], workers) for connection in connections
    )
