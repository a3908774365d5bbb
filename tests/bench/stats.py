"""Throughput and latency percentiles from per-operation timings."""

from __future__ import annotations


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (``q`` in 0..100)."""
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100), at least the first
    return ordered[int(rank) - 1]


def summarize(latencies_s: list[float], elapsed_s: float) -> dict[str, float | int | str]:
    ordered = sorted(latencies_s)
    return {
        "rps": round(len(ordered) / elapsed_s, 1) if elapsed_s else 0.0,
        "p50_ms": round(percentile(ordered, 50) * 1000, 3),
        "p90_ms": round(percentile(ordered, 90) * 1000, 3),
        "p99_ms": round(percentile(ordered, 99) * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3) if ordered else float("nan"),
        "requests": len(ordered),
        "seconds": round(elapsed_s, 2),
    }
