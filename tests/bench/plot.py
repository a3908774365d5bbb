"""Throughput (and p99 latency) against concurrency, one line per scenario and directory."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

STYLE = {  # scenario -> colour, marker
    "http ceiling": ("black", "s"),
    "gateway enrol": ("tab:blue", "o"),
    "gateway reprovision": ("tab:green", "o"),
    "ldap3 pooled": ("tab:orange", "^"),
    "ldap3 naive": ("tab:red", "v"),
    "ldap3 naive tuned": ("tab:pink", "v"),
}


def series_label(point: dict[str, Any]) -> str:
    store = f", {point['store']}" if point.get("store") not in (None, "", "sqlite") else ""
    where = "" if point["scenario"] == "http ceiling" else f" - {point['directory']}{store}"
    return f"{point['scenario']}{where}"


def draw(points: list[dict[str, Any]], title: str, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for point in points:
        grouped[series_label(point)].append(point)
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 7.5))
    for label, series in grouped.items():
        series.sort(key=lambda p: p["concurrency"])
        colour, marker = STYLE.get(series[0]["scenario"], ("grey", "x"))
        directory = series[0]["directory"]
        linestyle = ":" if "samba" in directory else "--" if "100000" in directory else "-"
        style: dict[str, Any] = {"color": colour, "marker": marker, "linestyle": linestyle, "label": label}
        xs = [p["concurrency"] for p in series]
        left.plot(xs, [max(p["rps"], 0.1) for p in series], **style)
        right.plot(xs, [p["p99_ms"] for p in series], **style)
    for axis, ylabel in ((left, "successful requests / s (log)"), (right, "p99 latency, ms (log)")):
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("concurrent clients (wrk connections / loop threads)")
        axis.set_ylabel(ylabel)
        axis.grid(True, which="both", alpha=0.3)
    right.axhline(50, color="grey", linewidth=0.8)
    right.annotate("50 ms target (c=16)", (24, 50), textcoords="offset points", xytext=(2, 3), fontsize=8)
    handles, labels = left.get_legend_handles_labels()
    rows = -(-len(labels) // 4)
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.035 * rows + 0.02, 1, 1))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
