"""One pipelined Redis connection per API worker, on its event loop: each read's command is written as it comes and
replies are matched to their readers in order (Redis answers a connection's commands in the order they were sent).

Why not redis-py's asyncio client: its pool, retry and observability layers around each command made a read cost
349 us of a worker's CPU against 216 us through this connection (bench/serving_inprocess.py --redis, README,
Serving), and p99 at 1,000 requests/s 12.9 ms against 2.0 ms. Replies are parsed by hiredis, the C parser redis-py
itself uses when it is installed. A reader that gives up at its deadline leaves its future behind: the reply, when
it comes, is read and dropped, so the order holds. Plain Redis only, with a password, a database and TLS as in Feast's connection string; a cluster or
sentinel is read through redis-py (serving.store.RedisRows).
"""

from __future__ import annotations

import asyncio
import collections
import ssl as ssl_module

import hiredis

# Commands in flight past which a connection is dropped (a Redis that stopped answering): readers keep failing at
# their deadline either way, and this bounds what a stalled connection holds.
MAX_PENDING = 10_000


class RedisReplyError(Exception):
    """Redis answered a command with an error."""


class PipelinedRedis(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.pending: collections.deque[asyncio.Future] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.lost: Exception | None = None

    @classmethod
    async def connect(cls, host: str, port: int, *, password: str | None = None, username: str | None = None,
                      db: int = 0, ssl: bool = False) -> PipelinedRedis:
        loop = asyncio.get_running_loop()
        context = ssl_module.create_default_context() if ssl else None
        _, connection = await loop.create_connection(cls, host, port, ssl=context)
        if password is not None:
            await connection.call(b"AUTH", *([username.encode()] if username else []), str(password).encode())
        if db:
            await connection.call(b"SELECT", str(db).encode())
        return connection

    @property
    def open(self) -> bool:
        return self.transport is not None and self.lost is None

    def call(self, *args: bytes) -> asyncio.Future:
        """Send one command now; the returned future gets its reply (RedisReplyError or ConnectionError when it
        fails)."""
        if not self.open:
            raise ConnectionError(f"Redis connection closed: {self.lost}")
        if len(self.pending) >= MAX_PENDING:
            self._close(ConnectionError(f"Redis left {MAX_PENDING} commands unanswered"))
            raise self.lost
        future = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        self.transport.write(hiredis.pack_command(args))
        return future

    def close(self) -> None:
        self._close(ConnectionError("closed by the API"))

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while (reply := self.reader.gets()) is not False:
                future = self.pending.popleft()
                if future.done():       # its reader gave up at the deadline
                    continue
                if isinstance(reply, hiredis.ReplyError):
                    future.set_exception(RedisReplyError(str(reply)))
                else:
                    future.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as exc:     # unparseable bytes, or a reply nobody asked for
            self._close(ConnectionError(f"Redis connection out of step: {exc!r}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("Redis closed the connection"))

    def _close(self, reason: Exception) -> None:
        self._fail(reason)
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, reason: Exception) -> None:
        if self.lost is None:
            self.lost = reason
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(ConnectionError(f"Redis connection lost: {self.lost}"))
