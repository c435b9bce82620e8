"""A global provider rate limit shared by every worker through Redis.

GCRA-style: one key holds the theoretical arrival time of the next allowed request; each caller
atomically reserves the next slot (Lua, with Redis's own clock so worker clocks don't matter)
and sleeps until it. Requests are therefore spaced at 1/rate across all processes: the achieved
rate never exceeds the limit, and nobody polls."""

from __future__ import annotations

import time
from functools import lru_cache

import redis

from models.settings import get_settings

KEY = "wft:ratelimit:provider"

_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil(tat - now + interval + 1000))
return tat - now
"""


@lru_cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(get_settings().broker_url)


def reserve_delay_ms(rate_per_s: float, client: redis.Redis | None = None, key: str = KEY) -> int:
    """Reserve the next slot; returns how many milliseconds to wait before using it."""
    client = client or _client()
    return int(client.eval(_RESERVE, 1, key, 1000.0 / rate_per_s))


def acquire_provider_slot(rate_per_s: float | None = None) -> float:
    """Block until this process may send one provider request. Returns the seconds waited."""
    rate = get_settings().wft_rate_limit_rps if rate_per_s is None else rate_per_s
    if rate <= 0:
        return 0.0
    delay = reserve_delay_ms(rate) / 1000.0
    if delay > 0:
        time.sleep(delay)
    return delay
