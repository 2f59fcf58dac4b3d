"""The performance benchmark of issue 7, in one run on one machine.

    python bench/run.py            # the full run (about 4 minutes on 2 cores)
    python bench/run.py --tiny     # every part at a tiny size (CI: under a minute)

Needs wrk and hey (Debian: `apt-get install -y wrk hey`), the Synthea bundles of
`tests/data/synthea/` (`--synthea` names another folder) and sekmet-fhir (installed into its
own venv on first use, see tests/integration/fhir_server.py). Prints the figures with their
ratios and writes `bench/results/latest.json` and `bench/results/latest.md`. Exits 1 when a
part could not be measured (a server did not start, or answered other than 200); a missed
target is reported, not failed, because the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import fallback, http_load, inprocess
from bench.report import Results, markdown, write
from bench.servers import FLOOR_APP, procfile_gunicorn
from bench.workload import (
    SYNTHEA_DIR,
    body_bytes,
    hook_request,
    prefetched_resources,
    synthea_history,
)
from tests.integration.processes import SERVICE_APP

PARTS = ("inprocess", "http", "fallback", "memory")


@dataclass(frozen=True)
class Plan:
    in_process_calls: dict[int, int]  # prefetch resources -> timed calls
    http_resources: int
    http_seconds: float  # per round, of wrk and of each fixed rate
    http_rounds: int
    connections: int
    fallback_resources: int
    fallback_delays: dict[str, float]
    fallback_rounds: int
    memory_requests: tuple[int, int]


FULL = Plan(
    in_process_calls={10: 300, 100: 300, 500: 200, 2000: 100},
    http_resources=500,
    http_seconds=10.0,
    http_rounds=3,
    connections=12,  # several calls waiting for each worker: the most it can do
    # sekmet-fhir pages by 10: 100 resources are 5-6 pages a search, within CDS_FHIR_PAGE_CAP.
    fallback_resources=100,
    fallback_delays={"Condition": 0.1, "Procedure": 0.06, "ServiceRequest": 0.03},
    fallback_rounds=10,
    memory_requests=(100, 10_000),
)
TINY = Plan(
    in_process_calls={10: 5, 100: 5, 500: 5, 2000: 3},
    http_resources=500,
    http_seconds=1.0,
    http_rounds=1,
    connections=12,
    fallback_resources=100,
    fallback_delays={"Condition": 0.05, "Procedure": 0.03, "ServiceRequest": 0.01},
    fallback_rounds=2,
    memory_requests=(20, 100),
)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    plan = TINY if args.tiny else FULL
    history = synthea_history(args.synthea)
    results = Results(tiny=args.tiny)
    with tempfile.TemporaryDirectory(prefix="vcf-bench-") as scratch:
        workdir = Path(scratch)
        try:
            _run(args.parts, plan, history, results, workdir)
            failure = None
        except (RuntimeError, http_load.LoadFailed, OSError) as error:
            failure = error
    data, table = write(results, args.out)
    print(markdown(results))
    print(f"written: {data}, {table}")
    if failure is not None:
        print(f"benchmark failed: {failure}", file=sys.stderr)
        return 1
    return 0


def _run(parts: list[str], plan: Plan, history: list, results: Results, workdir: Path) -> None:
    if "inprocess" in parts:
        _progress("in-process hook calls")
        results.in_process = inprocess.measure(plan.in_process_calls, history, workdir)
    if not {"http", "fallback", "memory"} & set(parts):
        return
    request = hook_request(plan.http_resources, history)
    body = workdir / "body.json"
    body.write_bytes(body_bytes(request))
    results.http_body = {
        "resources": prefetched_resources(request),
        "bytes": body.stat().st_size,
        "connections": plan.connections,
    }
    _server_parts(parts, plan, history, results, workdir, body)


def _server_parts(
    parts: list[str], plan: Plan, history: list, results: Results, workdir: Path, body: Path
) -> None:
    metrics_dir = workdir / "prometheus"
    metrics_dir.mkdir()
    env = {
        "DATABASE_URL": f"sqlite:///{workdir / 'service.sqlite3'}",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    with procfile_gunicorn(SERVICE_APP, env) as service:
        if "memory" in parts:  # first: "after 100 requests" means a fresh server
            _progress("memory of the gunicorn workers")
            results.memory = http_load.memory(service, body, *plan.memory_requests)
        if "http" in parts:
            _progress("service and floor under gunicorn, taking turns")
            with procfile_gunicorn(FLOOR_APP, {}) as floor:
                figures = http_load.throughputs(
                    {"floor": floor, "service": service},
                    body,
                    plan.http_seconds,
                    plan.connections,
                    plan.http_rounds,
                )
            results.floor, results.service = figures["floor"], figures["service"]
            _progress("service at half the floor's throughput")
            results.half_floor_rate = http_load.at_fixed_rate(
                service,
                body,
                results.floor.requests_per_second / 2,
                plan.http_seconds,
                plan.http_rounds,
            )
            _progress("service at half its own throughput")
            results.half_own_rate = http_load.at_fixed_rate(
                service,
                body,
                results.service.requests_per_second / 2,
                plan.http_seconds,
                plan.http_rounds,
            )
            results.server_stage_mean_ms = _stage_means(service.base_url)
        if "fallback" in parts:
            _progress("fallback searches against sekmet-fhir")
            results.fallback = fallback.measure(
                service.base_url,
                hook_request(plan.fallback_resources, history),
                plan.fallback_delays,
                plan.fallback_rounds,
                workdir,
            )


def _stage_means(base_url: str) -> dict[str, float]:
    """Mean milliseconds per stage over every call so far, as the service's /metrics says."""
    text = requests.get(f"{base_url}/metrics", timeout=10).text
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("service") != inprocess.SERVICE_ID:
                continue
            if sample.name == "cds_hook_stage_seconds_sum":
                sums[sample.labels["stage"]] = sample.value
            elif sample.name == "cds_hook_stage_seconds_count":
                counts[sample.labels["stage"]] = sample.value
    return {
        stage: sums[stage] / counts[stage] * 1e3 for stage in inprocess.STAGES if counts.get(stage)
    }


def _progress(part: str) -> None:
    print(f"== {part}", file=sys.stderr, flush=True)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="every part at a tiny size (CI)")
    parser.add_argument(
        "--parts",
        type=lambda text: text.split(","),
        default=list(PARTS),
        help=f"comma-separated subset of {','.join(PARTS)} (default: all)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).with_name("results"), help="results folder"
    )
    parser.add_argument(
        "--synthea",
        type=Path,
        default=SYNTHEA_DIR,
        help="folder of Synthea bundles (default: tests/data/synthea)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    return args


if __name__ == "__main__":
    sys.exit(main())
