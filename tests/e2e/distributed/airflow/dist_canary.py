"""What the secrets canary searches on the distributed stack besides files: every table of the
PostgreSQL metadata DB and every key and value in Redis, as text.

Encodings a leak could hide behind are undone before searching: ``bytea`` columns (``\\x<hex>`` in
``pg_dump``) and base64 runs (Celery keeps message bodies base64-encoded in Redis).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import dist_paths  # noqa: F401  (puts the shared helpers on sys.path)
import redis
from services import PostgresServer, RedisServer

#: A base64 or base64url run long enough to hold a secret.
BASE64_RUN = re.compile(rb"[A-Za-z0-9+/_-]{16,}={0,2}")
BYTEA = re.compile(r"\\x((?:[0-9a-f]{2})+)")


def decode_base64_runs(data: bytes) -> str:
    """The decodings of every base64 / base64url run in ``data``, one per line."""
    decoded = []
    for match in BASE64_RUN.finditer(data):
        run = match.group().rstrip(b"=")
        padded = run + b"=" * (-len(run) % 4)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                decoded.append(decode(padded).decode("latin-1"))
            except (binascii.Error, ValueError):
                continue
    return "\n".join(decoded)


def redis_snapshot(server: RedisServer) -> str:
    """Every key and value of every type in every database of the Redis server, plus the
    decodings of the base64 runs in them."""
    parts: list[bytes] = []
    with redis.Redis.from_url(server.url(0)) as first:
        databases = [int(name[2:]) for name in first.info("keyspace")] or [0]
    for db in databases:
        with redis.Redis.from_url(server.url(db)) as client:
            for key in client.scan_iter(count=1000):
                parts += [key, *_values(client, key)]
    raw = b"\n".join(parts)
    return raw.decode("latin-1") + "\n" + decode_base64_runs(raw)


def _values(client: redis.Redis, key: bytes) -> list[bytes]:
    # Untyped on purpose: redis-py's annotations mix sync and async return types.
    raw: Any = client
    kind = raw.type(key)
    if kind == b"string":
        values = [raw.get(key)]
    elif kind == b"hash":
        values = [item for pair in raw.hgetall(key).items() for item in pair]
    elif kind == b"list":
        values = raw.lrange(key, 0, -1)
    elif kind == b"set":
        values = raw.smembers(key)
    elif kind == b"zset":
        values = raw.zrange(key, 0, -1)
    else:
        # Streams and other types: their serialized form.
        values = [raw.dump(key)]
    return [bytes(value or b"") for value in values]


def postgres_text(postgres: PostgresServer, database: str) -> str:
    """``pg_dump`` of every schema and table, plus the decoded ``bytea`` values in it."""
    dump = postgres.dump(database)
    decoded = [bytes.fromhex(hexa).decode("latin-1") for hexa in BYTEA.findall(dump)]
    return dump + "\n" + "\n".join(decoded)
