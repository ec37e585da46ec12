"""python -m rag eval load: many gradio_client users against the running app (not a test).

Each user is its own gradio_client Client (its own session) asking the seed gold questions through
/ask in a loop for --seconds; the levels (--users 1,4,20) run one after another against the same
app. Only loopback URLs are accepted, and every level is bounded by --seconds and --max-requests.
Reports requests/s and p50/p95 latency per level side by side, and the errors (the goal is 0)."""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from ..results import RagError
from ..settings import PROJECT_ROOT
from .common import log

# The load test asks the seed gold questions (both halves: it measures speed, not quality).
GOLD = [PROJECT_ROOT / "eval" / "gold" / "seeds-dev.jsonl", PROJECT_ROOT / "eval" / "gold" / "seeds-test.jsonl"]


@dataclass
class Level:
    users: int
    seconds: float = 0.0
    requests: int = 0
    errors: int = 0
    latencies_s: list[float] = field(default_factory=list, repr=False)
    first_error: str = ""

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_s:
            return float("nan")
        if len(self.latencies_s) == 1:
            return self.latencies_s[0]
        return statistics.quantiles(self.latencies_s, n=100, method="inclusive")[int(q) - 1]

    def row(self) -> dict:
        d = asdict(self)
        d.pop("latencies_s")
        d.update(requests_per_s=round(self.per_second, 3), p50_s=round(self.percentile(50), 3),
                 p95_s=round(self.percentile(95), 3))
        return d


def loopback_url(url: str) -> str:
    host = urlparse(url).hostname or ""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise RagError(f"The load test only runs against this machine (127.0.0.1 or localhost), not {url}.")
    return url.rstrip("/")


def questions(paths: list[Path] = GOLD) -> list[str]:
    rows = [json.loads(line) for path in paths for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    return [r["question"] for r in rows if not r.get("follow_up_of")]


def run_level(clients: list, qs: list[str], seconds: float, max_requests: int) -> Level:
    """All users ask at once until the time or the request budget is used up."""
    level = Level(len(clients))
    lock = threading.Lock()
    start = threading.Barrier(len(clients) + 1)
    deadline = [0.0]

    def user(i: int, client) -> None:
        start.wait()
        n = i
        while time.monotonic() < deadline[0]:
            with lock:
                if level.requests + level.errors >= max_requests:
                    return
            t = time.perf_counter()
            try:
                client.predict(qs[n % len(qs)], api_name="/ask")
                ok, error = True, ""
            except Exception as e:  # noqa: BLE001  (every failure is counted and reported)
                ok, error = False, f"{type(e).__name__}: {e}"
            took = time.perf_counter() - t
            with lock:
                if ok:
                    level.requests += 1
                    level.latencies_s.append(took)
                else:
                    level.errors += 1
                    level.first_error = level.first_error or error
            n += len(clients)

    threads = [threading.Thread(target=user, args=(i, c), daemon=True) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    deadline[0] = t0 + seconds
    start.wait()
    for t in threads:
        t.join()
    level.seconds = time.monotonic() - t0
    return level


def table(levels: list[Level]) -> str:
    base = levels[0].per_second if levels and levels[0].per_second else 0.0
    lines = ["| users | requests | errors | requests/s | x 1st level | p50 s | p95 s |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for lv in levels:
        ratio = f"{lv.per_second / base:.2f}" if base else "-"
        lines.append(f"| {lv.users} | {lv.requests} | {lv.errors} | {lv.per_second:.2f} | {ratio} | "
                     f"{lv.percentile(50):.2f} | {lv.percentile(95):.2f} |")
    return "\n".join(lines)


def parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:7860", help="the running app (loopback only)")
    p.add_argument("--auth", default=os.environ.get("RAG_AUTH", ""), help="user:password if the app has one")
    p.add_argument("--users", default="1,4,20", help="concurrent users per level, comma-separated")
    p.add_argument("--seconds", type=float, default=60.0, help="duration of each level")
    p.add_argument("--max-requests", type=int, default=5000, help="request budget per level")
    p.add_argument("--out", default=None, help="also write the levels as JSON to this file")
    return p


def main(argv: list[str], prog: str = "python -m rag eval load") -> int:
    args = parser(prog).parse_args(argv)
    from gradio_client import Client

    url = loopback_url(args.url)
    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    users = [int(u) for u in args.users.split(",") if u.strip()]
    if not users or min(users) < 1 or max(users) > 100:
        raise RagError("--users takes 1 to 100 users per level, e.g. 1,4,20.")
    qs = questions()
    info = Client(url, auth=auth, verbose=False, download_files=False).predict(api_name="/info")
    log(f"app at {url}: answer mode {info.get('mode')}, {info.get('chunks')} passages")
    levels = []
    for n in users:
        clients = [Client(url, auth=auth, verbose=False, download_files=False) for _ in range(n)]
        log(f"{n} user(s) for {args.seconds:.0f} s ...")
        levels.append(run_level(clients, qs, args.seconds, args.max_requests))
        log(f"  {levels[-1].requests} answers, {levels[-1].errors} errors")
    print(f"Load on {url} (answer mode {info.get('mode')}, {info.get('chunks')} passages), "
          f"{args.seconds:.0f} s per level:\n")
    print(table(levels))
    for lv in levels:
        if lv.first_error:
            print(f"\n{lv.users} users, first error: {lv.first_error}")
    if args.out:
        Path(args.out).write_text(json.dumps({"url": url, "mode": info.get("mode"), "chunks": info.get("chunks"),
                                              "levels": [lv.row() for lv in levels]}, indent=2),
                                  encoding="utf-8")
    return 1 if any(lv.errors for lv in levels) else 0
