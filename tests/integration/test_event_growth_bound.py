"""5,000 failing calls with random usernames and deviceIds: the store and the process grow within
the stated bounds (docs/performance.md, "Store growth under failing calls"; the benchmark
``python -m tests.bench.event_growth`` drives 100,000). On SQLite and the real PostgreSQL.
"""

from __future__ import annotations

import math

import pytest

from tests.bench.event_growth import measure

CALLS, RATE, SOURCES = 5000, 52.0, 3
#: Outcomes x who (no known user, or the one real user the benchmark guesses for).
ROWS_PER_MINUTE_AND_SOURCE = 2 * 2


@pytest.mark.parametrize("postgres", [False, pytest.param(True, marks=pytest.mark.postgres)])
def test_random_failing_calls_grow_the_store_by_rows_per_minute_not_per_call(postgres: bool) -> None:
    # attempts.per_source off (as behind SessionTalk's cloud): every random name is a failed
    # sign-in with its own limiter key, the most the process can be made to keep per call.
    growth = measure(CALLS, rate=RATE, sources=SOURCES, per_source="", postgres=postgres)
    minutes = math.ceil(CALLS / RATE / 60) + 1
    assert growth.event_rows == 0
    assert growth.counted_calls == CALLS
    assert growth.counted_rows <= minutes * SOURCES * ROWS_PER_MINUTE_AND_SOURCE
    # One events row per call was ~221 B on SQLite (1.1 MB for these calls): now a page or two.
    assert growth.store_bytes <= 128 * 1024
    # The process: the attempt limiter's keys for caller-chosen names (bounded at 50,000 keys),
    # nothing per call in the store layer. ~590 B per call measured with per_source off.
    assert growth.rss_bytes <= CALLS * 1200
