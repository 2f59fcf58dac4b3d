"""The benchmark's results as JSON (every figure) and as the Markdown tables it prints."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.fallback import Fallback
from bench.http_load import FixedRate, Memory, Throughput
from bench.inprocess import SizeResult
from bench.workload import REPO_ROOT

# Issue 7's targets, as ratios on this kind of machine (2 cores).
IN_PROCESS_RATIO_AT_500 = 3.0
THROUGHPUT_SHARE_OF_FLOOR = 0.5
P99_AT_HALF_FLOOR_MS = 50.0
FALLBACK_RATIO = 1.3
MEMORY_GROWTH_MB = 10.0


@dataclass
class Results:
    tiny: bool
    machine: dict[str, Any] = field(default_factory=lambda: machine())
    in_process: list[SizeResult] = field(default_factory=list)
    http_body: dict[str, int] = field(default_factory=dict)
    floor: Throughput | None = None
    service: Throughput | None = None
    half_floor_rate: FixedRate | None = None
    half_own_rate: FixedRate | None = None  # for operations: latency when not saturated
    server_stage_mean_ms: dict[str, float] = field(default_factory=dict)
    fallback: Fallback | None = None
    memory: Memory | None = None

    def to_json(self) -> str:
        figures = dataclasses.asdict(self)
        figures["in_process"] = [
            {**dataclasses.asdict(size), "ratio_p50": size.ratio_p50} for size in self.in_process
        ]
        figures["targets"] = self.targets()
        return json.dumps(figures, indent=2)

    def targets(self) -> list[dict[str, Any]]:
        """Each target of issue 7: figure, limit, met (None when not measured)."""
        at_500 = next((s for s in self.in_process if s.resources == 500), None)
        share = (
            self.service.requests_per_second / self.floor.requests_per_second
            if (self.service and self.floor)
            else None
        )
        early, late = (
            (self.memory.requests_early, self.memory.requests_late)
            if self.memory
            else (100, 10_000)
        )
        rows = [
            ("in-process p50 / json.loads p50, 500 resources", at_500 and at_500.ratio_p50,
             "<=", IN_PROCESS_RATIO_AT_500),
            ("HTTP throughput / floor's", share, ">=", THROUGHPUT_SHARE_OF_FLOOR),
            ("p99 at half the floor's throughput (ms)",
             self.half_floor_rate and self.half_floor_rate.p99_ms, "<", P99_AT_HALF_FLOOR_MS),
            ("fallback p50 / slowest single search p50", self.fallback and self.fallback.ratio,
             "<=", FALLBACK_RATIO),
            (f"RSS growth {early:,} -> {late:,} requests, largest worker (MB)",
             self.memory and self.memory.largest_growth_mb, "<", MEMORY_GROWTH_MB),
        ]  # fmt: skip
        return [_target(*row) for row in rows]


def _target(name: str, figure: float | None, relation: str, limit: float) -> dict[str, Any]:
    met = None
    if figure is not None:
        met = {"<=": figure <= limit, ">=": figure >= limit, "<": figure < limit}[relation]
    return {"target": name, "figure": figure, "relation": relation, "limit": limit, "met": met}


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "orjson": _installed("orjson"),  # hook bodies use it from 3.9.15 on, json before
        "msgspec": _installed("msgspec"),  # the prefetch views
        "gevent": _installed("gevent"),  # the Procfile's workers
        "system": f"{platform.system()} {platform.release()}",
        "commit": commit,
    }


def _installed(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def write(results: Results, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data, table = folder / "latest.json", folder / "latest.md"
    data.write_text(results.to_json() + "\n")
    table.write_text(markdown(results))
    return data, table


def markdown(results: Results) -> str:
    m = results.machine
    lines = [
        "# Benchmark results" + (" (tiny run: checks that it runs; figures mean nothing)"
                                 if results.tiny else ""),
        "",
        f"Machine: {m['nproc']} cores, {m['cpu']}, Python {m['python']}, {m['system']}; "
        f"orjson {m['orjson'] or 'not installed'}, msgspec {m['msgspec']}, "
        f"gevent {m['gevent']}; commit {m['commit']}.",
        "",
    ]  # fmt: skip
    lines += _in_process(results) + _http(results) + _fallback(results) + _memory(results)
    lines += ["## Targets (issue 7)", "", "| target | figure | limit | met |", "|---|---|---|---|"]
    for row in results.targets():
        figure = "not measured" if row["figure"] is None else f"{row['figure']:.2f}"
        met = {None: "-", True: "yes", False: "**no**"}[row["met"]]
        lines.append(f"| {row['target']} | {figure} | {row['relation']} {row['limit']:g} | {met} |")
    return "\n".join(lines) + "\n"


def _in_process(results: Results) -> list[str]:
    if not results.in_process:
        return []
    lines = [
        "## 1. In-process hook latency next to `json.loads` of the same body",
        "",
        "| prefetch resources | body | calls | hook p50 | hook p99 | json.loads p50 "
        "| json.loads p99 | ratio p50 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in results.in_process:
        lines.append(
            f"| {s.resources} | {s.body_bytes / 1e3:.0f} kB | {s.calls} | {s.hook_p50_ms:.2f} ms "
            f"| {s.hook_p99_ms:.2f} ms | {s.json_loads_p50_ms:.2f} ms "
            f"| {s.json_loads_p99_ms:.2f} ms | {s.ratio_p50:.2f}x |"
        )
    lines += ["", "Mean seconds per pipeline stage (from the stage histograms of /metrics):", ""]
    stages = list(results.in_process[0].stage_mean_ms)
    lines += [
        "| prefetch resources | " + " | ".join(stages) + " |",
        "|---:|" + "---:|" * len(stages),
    ]
    for s in results.in_process:
        cells = " | ".join(f"{s.stage_mean_ms[stage]:.2f} ms" for stage in stages)
        lines.append(f"| {s.resources} | {cells} |")
    return [*lines, ""]


def _http(results: Results) -> list[str]:
    if not (results.floor and results.service):
        return []
    body = results.http_body
    floor, service = results.floor, results.service
    lines = [
        "## 2. HTTP under gunicorn as the Procfile configures it",
        "",
        f"Body: {body['resources']} prefetched resources, {body['bytes'] / 1e3:.0f} kB; wrk with "
        f"{body['connections']} connections; floor and service take turns, "
        f"{len(floor.rounds_per_second)} round(s) each, the median round shown.",
        "",
        "| server | requests/s | p50 | p99 | CPU per request | share of the floor's requests/s |",
        "|---|---:|---:|---:|---:|---:|",
        f'| floor (`bench/floor_app.py`: json.loads, `{{"cards": []}}`) '
        f"| {floor.requests_per_second:.0f} | {floor.p50_ms:.1f} ms | {floor.p99_ms:.1f} ms "
        f"| {floor.cpu_ms_per_request:.1f} ms | 1.00 |",
        f"| vcf-imaging-cds | {service.requests_per_second:.0f} | {service.p50_ms:.1f} ms "
        f"| {service.p99_ms:.1f} ms | {service.cpu_ms_per_request:.1f} ms "
        f"| {service.requests_per_second / floor.requests_per_second:.2f} |",
    ]
    for whose, fixed in (
        ("the floor's", results.half_floor_rate),
        ("its own", results.half_own_rate),
    ):
        if fixed:
            lines.append(
                f"| vcf-imaging-cds at half {whose} rate (hey, {fixed.target_rate:.0f}/s asked, "
                f"{fixed.achieved_rate:.0f}/s sent) | {fixed.achieved_rate:.0f} "
                f"| {fixed.p50_ms:.1f} ms | {fixed.p99_ms:.1f} ms | - "
                f"| {fixed.achieved_rate / floor.requests_per_second:.2f} |"
            )
    lines += _fixed_rate_rounds(results)
    if results.server_stage_mean_ms:
        stages = ", ".join(f"{k} {v:.2f} ms" for k, v in results.server_stage_mean_ms.items())
        lines += ["", f"Mean per stage under load, from the service's /metrics: {stages}."]
    return [*lines, ""]


def _fixed_rate_rounds(results: Results) -> list[str]:
    """Every fixed-rate round's p99: the table shows the median round's."""
    rounds = [
        f"half {whose} rate {', '.join(f'{p99:.1f}' for p99 in fixed.rounds_p99_ms)} ms"
        for whose, fixed in (
            ("the floor's", results.half_floor_rate),
            ("its own", results.half_own_rate),
        )
        if fixed and len(fixed.rounds_p99_ms) > 1
    ]
    if not rounds:
        return []
    return [
        "",
        "p99 of each fixed-rate round, in order (the median round is shown above): "
        f"{'; '.join(rounds)}.",
    ]


def _fallback(results: Results) -> list[str]:
    f = results.fallback
    if f is None:
        return []
    delays = ", ".join(f"{kind} {ms:.0f} ms" for kind, ms in f.delays_ms.items())
    singles = ", ".join(f"{kind} {ms:.1f} ms" for kind, ms in f.searches_p50_ms.items())
    return [
        "## 3. Fallback: three FHIR searches instead of a prefetch",
        "",
        f"sekmet-fhir behind a proxy that holds back every answer (each page of a search): "
        f"{delays}; {f.rounds} rounds.",
        "",
        "| hook call p50 | slowest single search p50 | ratio |",
        "|---:|---:|---:|",
        f"| {f.hook_p50_ms:.1f} ms | {f.slowest_search_p50_ms:.1f} ms | {f.ratio:.2f}x |",
        "",
        f"Each search alone, p50: {singles}.",
        "",
    ]


def _memory(results: Results) -> list[str]:
    mem = results.memory
    if mem is None:
        return []
    lines = [
        "## 4. Resident memory of each gunicorn worker",
        "",
        "hey, 4 at a time, each request on a new connection so that every worker serves its "
        "share; requests counted over all workers.",
        "",
        f"| worker | after {mem.requests_early} requests | after {mem.requests_late // 2:,} "
        f"| after {mem.requests_late:,} requests | growth |",
        "|---:|---:|---:|---:|---:|",
    ]
    rows = zip(
        mem.worker_rss_early_mb, mem.worker_rss_halfway_mb, mem.worker_rss_late_mb, strict=True
    )
    for n, (early, middle, late) in enumerate(rows, start=1):
        lines.append(
            f"| {n} | {early:.1f} MB | {middle:.1f} MB | {late:.1f} MB | {late - early:+.1f} MB |"
        )
    return [*lines, ""]
