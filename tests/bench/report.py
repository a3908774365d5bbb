"""The results table, the ratios (each side at its best concurrency) and the targets of the issue."""

from __future__ import annotations

from typing import Any

Point = dict[str, Any]
TARGET_CONCURRENCY = 16


def _same(point: Point, directory: str, scenario: str, store: str | None) -> bool:
    return (
        point["directory"] == directory
        and point["scenario"] == scenario
        and (store is None or point.get("store") in (None, store))
    )


def best(points: list[Point], directory: str, scenario: str, store: str | None = None) -> Point | None:
    """The point with the highest throughput of one series (None when it was not measured)."""
    series = [p for p in points if _same(p, directory, scenario, store)]
    return max(series, key=lambda p: p["rps"]) if series else None


def at(points: list[Point], directory: str, scenario: str, concurrency: int, store: str | None = None) -> Point | None:
    found = [p for p in points if _same(p, directory, scenario, store) and p["concurrency"] == concurrency]
    return found[0] if found else None


def _ratio(label: str, num: Point | None, den: Point | None, target: float | None = None) -> dict[str, Any] | None:
    if not num or not den or not den["rps"]:
        return None
    value = num["rps"] / den["rps"]
    return {
        "label": label,
        "value": round(value, 2),
        "numerator": f"{num['rps']:.0f}/s at c={num['concurrency']}",
        "denominator": f"{den['rps']:.0f}/s at c={den['concurrency']}",
        "target": target,
        "verdict": None if target is None else ("PASS" if value >= target else "MISS"),
    }


def ratios(points: list[Point], stores: list[str]) -> list[dict[str, Any]]:
    """Throughput ratios per directory (and store), both sides at their best concurrency."""
    found = []
    directories = list(dict.fromkeys(p["directory"] for p in points if p["scenario"] != "http ceiling"))
    ceiling = best(points, "-", "http ceiling")
    for directory in directories:
        gated = directory.startswith("openldap")  # the targets are against slapd
        pooled, naive = best(points, directory, "ldap3 pooled"), best(points, directory, "ldap3 naive")
        tuned = best(points, directory, "ldap3 naive tuned")
        for store in stores:
            tag = f"{directory}" + (f", {store}" if len(stores) > 1 else "")
            enrol = best(points, directory, "gateway enrol", store)
            reprovision = best(points, directory, "gateway reprovision", store)
            found += [
                _ratio(f"{tag}: gateway enrol / ldap3 pooled", enrol, pooled, 0.6 if gated else None),
                _ratio(f"{tag}: gateway reprovision / ldap3 pooled", reprovision, pooled),
                _ratio(f"{tag}: gateway enrol / ldap3 naive", enrol, naive, 10 if gated else None),
                _ratio(f"{tag}: gateway enrol / ldap3 naive tuned", enrol, tuned),
                _ratio(f"{tag}: gateway enrol / http ceiling", enrol, ceiling),
            ]
        found.append(_ratio(f"{directory}: ldap3 pooled / ldap3 naive", pooled, naive))
    return [r for r in found if r]


def latency_targets(points: list[Point], stores: list[str], small: str, large: str | None) -> list[dict[str, Any]]:
    """p99 at 16 clients <= 50 ms; p50 at the large directory <= 1.2 x p50 at the small one."""
    found = []
    for store in stores:
        tag = f", {store}" if len(stores) > 1 else ""
        for scenario in ("gateway enrol", "gateway reprovision"):
            for directory in filter(None, (small, large)):
                point = at(points, directory, scenario, TARGET_CONCURRENCY, store)
                if point:
                    found.append(
                        {
                            "label": f"{directory}{tag}: {scenario} p99 at c={TARGET_CONCURRENCY}",
                            "value": round(point["p99_ms"], 1),
                            "unit": " ms",
                            "target": "<= 50",
                            "verdict": "PASS" if point["p99_ms"] <= 50 else "MISS",
                        }
                    )
            if large:
                for concurrency in sorted({p["concurrency"] for p in points if p["scenario"] == scenario}):
                    a, b = (
                        at(points, small, scenario, concurrency, store),
                        at(points, large, scenario, concurrency, store),
                    )
                    if a and b and a["p50_ms"]:
                        value = b["p50_ms"] / a["p50_ms"]
                        judged = concurrency == TARGET_CONCURRENCY
                        found.append(
                            {
                                "label": f"{scenario}{tag}: p50 {large.split()[1]} users / p50 {small.split()[1]} users"
                                f" at c={concurrency}",
                                "value": round(value, 2),
                                "unit": "x",
                                "target": "<= 1.2" if judged else None,
                                "verdict": ("PASS" if value <= 1.2 else "MISS") if judged else None,
                            }
                        )
    return found


def soak_targets(soak: dict[str, Any]) -> list[dict[str, Any]]:
    failed = soak["load"]["bad"] + soak["load"]["socket_errors"] + soak["load"]["timeouts"]
    return [
        {
            "label": f"soak {soak['seconds']:.0f} s: {soak['load']['rps']:.0f} req/s; failed answers",
            "value": failed,
            "unit": "",
            "target": "0",
            "verdict": "PASS" if failed == 0 and soak["load"]["ok"] else "MISS",
        },
        {
            "label": f"soak {soak['seconds']:.0f} s: RSS growth",
            "value": soak["rss_growth_pct"],
            "unit": "%",
            "target": "< 10",
            "verdict": "PASS" if soak["rss_growth_pct"] < 10 else "MISS",
        },
        {
            "label": f"soak {soak['seconds']:.0f} s: open descriptors growth",
            "value": soak["fd_growth"],
            "unit": "",
            "target": "<= 0",
            "verdict": "PASS" if soak["fd_growth"] <= 0 else "MISS",
        },
    ]


def _cell(point: Point) -> str:
    checked = f"{point.get('bad', point.get('errors', 0))}"
    cpu = point.get("python_cpu_ms")
    cpu_text = f"{cpu:6.2f}" if isinstance(cpu, (int, float)) else "     -"
    directory = point.get("directory_cpu_ms")
    directory_text = f"{directory:6.2f}" if isinstance(directory, (int, float)) else "     -"
    return f"{point['rps']:9.1f} {point['p50_ms']:8.2f} {point['p99_ms']:8.2f} {checked:>6} {cpu_text} {directory_text}"


def table(points: list[Point]) -> str:
    header = f"{'scenario':<21} {'directory':<22} {'store':<10} {'c':>3} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
    header += f"{'failed':>6} {'CPU ms/req (python, directory)'}"
    lines = [header, "-" * len(header)]
    for p in points:
        lines.append(
            f"{p['scenario']:<21} {p['directory']:<22} {p.get('store') or '':<10} {p['concurrency']:>3} {_cell(p)}"
        )
    return "\n".join(lines)


def verdict_lines(rows: list[dict[str, Any]]) -> str:
    lines = []
    for r in rows:
        target = f"  target {r['target']}" if r.get("target") is not None else ""
        verdict = f"  {r['verdict']}" if r.get("verdict") else ""
        detail = f"  ({r['numerator']} vs {r['denominator']})" if "numerator" in r else ""
        lines.append(f"{r['label']:<72} {r['value']:>8}{r.get('unit', 'x')}{target}{verdict}{detail}")
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    """The tables for docs/performance.md: req/s and p50 / p99 ms per scenario and concurrency."""
    points = results["points"]
    columns = sorted({p["concurrency"] for p in points})
    lines = ["| scenario | directory | " + " | ".join(f"c={c}" for c in columns) + " |"]
    lines.append("|---|---|" + "---|" * len(columns))
    for series in dict.fromkeys((p["scenario"], p["directory"], p.get("store")) for p in points):
        scenario, directory, store = series
        cells = []
        for c in columns:
            found = [
                p for p in points if (p["scenario"], p["directory"], p.get("store")) == series and p["concurrency"] == c
            ]
            cells.append(
                f"{found[0]['rps']:.0f}/s · {found[0]['p50_ms']:.1f} / {found[0]['p99_ms']:.0f}" if found else ""
            )
        store_text = f" ({store})" if store and len(results["meta"]["args"]["stores"]) > 1 else ""
        lines.append(f"| {scenario}{store_text} | {directory} | " + " | ".join(cells) + " |")
    lines += ["", "| ratio or target | value | target | verdict |", "|---|---|---|---|"]
    for r in results["ratios"] + results["targets"]:
        detail = f" ({r['numerator']} vs {r['denominator']})" if "numerator" in r else ""
        lines.append(f"| {r['label']}{detail} | {r['value']}{r.get('unit', 'x')} | {r.get('target') or ''} | "
                     f"{r.get('verdict') or ''} |")  # fmt: skip
    return "\n".join(lines) + "\n"
