"""Parts 2 and 4: the service under gunicorn next to the framework floor, and its memory.

Throughput is wrk's most requests per second at a fixed number of connections, the floor
and the service taking turns round by round (a neighbour's load then hits both) and the
median round counted. CPU milliseconds per request (the workers' user + system time over
the requests answered) does not depend on such load at all. The p99 at half the floor's
throughput comes from hey at a fixed rate (wrk2 is not packaged by Debian; hey's `-q` is a
rate per connection, so the rate is split over the connections), in rounds as well: one
10-second window holds 1,800 answers at 180/s, so its p99 is the 18th slowest, and a single
stall of this shared machine sets it; the median round is counted and every round shown.
Memory is each worker's resident set after the first 100 requests and after 10,000.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.servers import Server, hey, hey_at_rate, wrk
from bench.stats import cpu_seconds, percentile, rss_mb
from bench.workload import SERVICE_PATH

RATE_SENDERS = 8


class LoadFailed(RuntimeError):
    """The server answered something other than 200 under load: figures would lie."""


@dataclass(frozen=True)
class Throughput:
    requests_per_second: float  # the median round's
    p50_ms: float
    p99_ms: float
    requests: int  # over all rounds
    cpu_ms_per_request: float  # the workers' CPU time over all rounds
    rounds_per_second: list[float]


@dataclass(frozen=True)
class FixedRate:
    target_rate: float
    achieved_rate: float  # over all rounds
    p50_ms: float  # the median round's (by p99)
    p99_ms: float
    requests: int  # over all rounds
    rounds_p99_ms: list[float]


@dataclass(frozen=True)
class Memory:
    requests_early: int
    requests_late: int
    worker_rss_early_mb: list[float]
    worker_rss_halfway_mb: list[float]  # a cache levels off between halfway and late; a leak not
    worker_rss_late_mb: list[float]

    @property
    def largest_growth_mb(self) -> float:
        return max(
            late - early
            for early, late in zip(self.worker_rss_early_mb, self.worker_rss_late_mb, strict=True)
        )


def throughputs(
    servers: dict[str, Server], body: Path, seconds: float, connections: int, rounds: int
) -> dict[str, Throughput]:
    """Each server's throughput, the servers taking turns for `rounds` rounds."""
    for server in servers.values():  # warm-up, not counted
        _wrk(server, body, min(3.0, seconds), connections)
    results: dict[str, list] = {name: [] for name in servers}
    cpu: dict[str, float] = {name: 0.0 for name in servers}
    for _ in range(rounds):
        for name, server in servers.items():
            before = _workers_cpu(server)
            results[name].append(_wrk(server, body, seconds, connections))
            cpu[name] += _workers_cpu(server) - before
    return {name: _summary(runs, cpu[name]) for name, runs in results.items()}


def _wrk(server: Server, body: Path, seconds: float, connections: int):
    url = server.base_url + SERVICE_PATH
    result = wrk(url, body, seconds, connections)
    if result.non_2xx or result.socket_errors or result.timeouts:
        raise LoadFailed(f"wrk on {url}: {result}")
    return result


def _workers_cpu(server: Server) -> float:
    return sum(cpu_seconds(pid) for pid in server.workers())


def _summary(runs: list, cpu: float) -> Throughput:
    median = sorted(runs, key=lambda run: run.requests_per_second)[len(runs) // 2]
    requests = sum(run.requests for run in runs)
    return Throughput(
        requests_per_second=median.requests_per_second,
        p50_ms=median.p50_ms,
        p99_ms=median.p99_ms,
        requests=requests,
        cpu_ms_per_request=cpu / requests * 1e3,
        rounds_per_second=[run.requests_per_second for run in runs],
    )


def at_fixed_rate(
    server: Server, body: Path, rate: float, seconds: float, rounds: int
) -> FixedRate:
    answered = [_fixed_rate_round(server, body, rate, seconds) for _ in range(rounds)]
    by_p99 = sorted(answered, key=lambda times: percentile(times, 99))
    median = by_p99[len(by_p99) // 2]
    requests = sum(len(times) for times in answered)
    return FixedRate(
        target_rate=rate,
        achieved_rate=requests / (seconds * rounds),
        p50_ms=percentile(median, 50) * 1e3,
        p99_ms=percentile(median, 99) * 1e3,
        requests=requests,
        rounds_p99_ms=[percentile(times, 99) * 1e3 for times in answered],
    )


def _fixed_rate_round(server: Server, body: Path, rate: float, seconds: float) -> list[float]:
    answered = hey_at_rate(server.base_url + SERVICE_PATH, body, rate, seconds, RATE_SENDERS)
    if answered.failures or not answered.seconds:
        raise LoadFailed(f"hey at {rate:.0f}/s: {answered.failures} answers were not 200")
    return answered.seconds


def memory(server: Server, body: Path, early: int, late: int) -> Memory:
    """Send `early` requests, read every worker's RSS; continue to `late` in all; read again."""
    workers = server.workers()
    halfway = late // 2
    _send(server, body, early)
    before = [rss_mb(pid) for pid in workers]
    _send(server, body, halfway - early)
    middle = [rss_mb(pid) for pid in workers]
    _send(server, body, late - halfway)
    if server.workers() != workers:
        raise LoadFailed("a gunicorn worker restarted during the memory run")
    return Memory(early, late, before, middle, [rss_mb(pid) for pid in workers])


def _send(server: Server, body: Path, count: int) -> None:
    # A new connection per request, so that the workers share the requests: a kept-alive
    # connection stays with the worker that accepted it, and a worker that served none of
    # the first 100 showed its own warm-up (imports, caches: about 10 MB) as growth.
    answered = hey(server.base_url + SERVICE_PATH, body, 4, count, keepalive=False)
    if answered.failures or len(answered.statuses) != count:
        raise LoadFailed(f"{len(answered.statuses)} of {count} requests answered 200")
