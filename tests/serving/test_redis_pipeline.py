"""The API's pipelined Redis connection on a real redis-server: replies reach their readers in order, a reader that
gave up does not shift anyone's reply, errors and a lost connection reach every reader waiting."""

import asyncio

import pytest
import redis

from serving.redis_pipeline import PipelinedRedis, RedisReplyError


def run(scenario):
    return asyncio.run(scenario())


def test_replies_reach_their_readers_in_order_past_one_that_gave_up(redis_server):
    _, port = redis_server
    redis.Redis(port=port).hset(b"h", mapping={b"a": b"1", b"b": b"2"})

    async def scenario():
        connection = await PipelinedRedis.connect("127.0.0.1", port)
        first = connection.call(b"HMGET", b"h", b"a", b"b")
        abandoned = connection.call(b"HMGET", b"h", b"b")
        abandoned.cancel()                     # its reader's deadline passed
        third = connection.call(b"HMGET", b"h", b"b", b"missing")
        assert await first == [b"1", b"2"]
        assert await third == [b"2", None]
        assert await connection.call(b"HMGET", b"nothing", b"a") == [None]
        many = await asyncio.gather(*(connection.call(b"HMGET", b"h", b"a" if i % 2 else b"b") for i in range(200)))
        assert many == [[b"1"] if i % 2 else [b"2"] for i in range(200)]
        connection.close()

    run(scenario)


def test_an_error_reply_fails_only_its_reader(redis_server):
    _, port = redis_server
    redis.Redis(port=port).set(b"plain", b"x")

    async def scenario():
        connection = await PipelinedRedis.connect("127.0.0.1", port)
        wrong_type = connection.call(b"HMGET", b"plain", b"a")
        after = connection.call(b"GET", b"plain")
        with pytest.raises(RedisReplyError, match="WRONGTYPE"):
            await wrong_type
        assert await after == b"x"
        connection.close()

    run(scenario)


def test_password_and_database_from_the_connection_settings(redis_server):
    _, port = redis_server
    admin = redis.Redis(port=port)
    admin.execute_command("SELECT", 3)
    admin.hset(b"h", b"a", b"in db 3")
    admin.config_set("requirepass", "s3cret")

    async def scenario():
        with pytest.raises(RedisReplyError):
            await PipelinedRedis.connect("127.0.0.1", port, password="wrong")
        connection = await PipelinedRedis.connect("127.0.0.1", port, password="s3cret", db=3)
        assert await connection.call(b"HMGET", b"h", b"a") == [b"in db 3"]
        connection.close()

    run(scenario)


def test_a_lost_connection_fails_every_reader_waiting_and_every_later_call(redis_server):
    process, port = redis_server

    async def scenario():
        connection = await PipelinedRedis.connect("127.0.0.1", port)
        redis.Redis(port=port).client_pause(5000)      # the next command waits for an answer that never comes
        waiting = connection.call(b"HMGET", b"h", b"a")
        await asyncio.sleep(0.05)
        process.kill()
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(waiting, 5)
        assert not connection.open
        with pytest.raises(ConnectionError):
            connection.call(b"HMGET", b"h", b"a")

    run(scenario)
