"""wft against bare Celery, same broker, pools and settings, in one process tree (SPEC §7).

    python -m bench.run_all [--only p1,p2,p3,p4,p5,p6] [--reps 3] [--n 2000]

Each benchmark runs its bare-Celery baseline of the same shape in the same session (baseline
tasks are registered on wft's own app with ``--include bench.baseline_tasks``) and prints the
median, min–max and the ratio. Results are appended as JSON lines to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import redis

from api_adapter.processes import VENV_BIN, ManagedProcess, child_pids, wait_for
from api_adapter.stack import EmbeddedPostgres, EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt(s: dict[str, float], unit: str = "s") -> str:
    return f"{s['median']:.3f}{unit} (min {s['min']:.3f}, max {s['max']:.3f}, n={s['n']})"


class Bench:
    def __init__(self, root: Path):
        self.root = root
        self.procs: list[ManagedProcess] = []
        self.pg = None
        env_url = os.environ.get("DATABASE_URL")
        if env_url:
            import psycopg

            name = f"wft_bench_{secrets.token_hex(4)}"
            with psycopg.connect(env_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
                c.execute(f'CREATE DATABASE "{name}"')
            base = env_url.rsplit("/", 1)[0]
            self.database_url = f"{base}/{name}"
            self._drop = (env_url, name)
        else:
            self.pg = EmbeddedPostgres.start(root / "pg")
            self.database_url = self.pg.url
            self._drop = None
        self.redis = EmbeddedRedis.start(root / "redis")
        self.env = {"PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}", "HOME": os.environ.get("HOME", "/tmp"),
                    "DATABASE_URL": self.database_url, "REDIS_URL": self.redis.url, "PYTHONUNBUFFERED": "1",
                    "WFT_SECRET_KEY": secrets.token_hex(8)}
        os.environ.update({k: v for k, v in self.env.items() if k not in ("PATH", "HOME")})
        from models.migrate import upgrade

        upgrade(self.database_url)
        self.r = redis.Redis.from_url(self.redis.url, socket_timeout=None)

    # ---------------------------------------------------------------- processes
    def worker(self, name: str, queues: str, pool: str, concurrency: int) -> ManagedProcess:
        args = [str(VENV_BIN / "celery"), "-A", "workers.app", "worker", "--include", "bench.baseline_tasks",
                "--pool", pool, "--concurrency", str(concurrency), "--queues", queues, "--loglevel", "WARNING",
                "--hostname", f"{name}@%h", "--without-gossip", "--without-mingle", "-E", "--prefetch-multiplier", "1"]
        proc = ManagedProcess(args, self.env, self.root / f"{name}.log", name, cwd=ROOT)
        wait_for(lambda: self._pinged(name), 60, interval=0.3, what=f"worker {name}")
        self.procs.append(proc)
        return proc

    def _pinged(self, name: str) -> bool:
        from workers.app import app

        replies = app.control.ping(destination=[f"{name}@{platform.node()}"], timeout=0.5)
        return bool(replies)

    def standard_workers(self) -> None:
        self.control = self.worker("control", "wft.control", "prefork", 1)
        self.tests = self.worker("tests", "wft.tests", "prefork", 2)
        self.calls = self.worker("calls", "wft.calls", "threads", 16)

    def stop_workers(self) -> None:
        for p in self.procs:
            p.stop()
        self.procs.clear()

    def close(self) -> None:
        self.stop_workers()
        from models.db import dispose_engine

        dispose_engine()
        self.redis.stop()
        if self.pg:
            self.pg.stop()
        if self._drop:
            import psycopg

            url, name = self._drop
            with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # ---------------------------------------------------------------- wft side
    def workflow(self, n_tests: int, latency_ms: int = 0, n_consensus: int | None = None) -> tuple[str, str]:
        from tests.support.seed import trivial_extract_workflow

        return trivial_extract_workflow(n_tests, latency_ms, n_consensus)

    def wft_run(self, org: str, wf: str, timeout: float = 900, **kwargs):
        from api_adapter.adapter import create_and_enqueue_run
        from models.db import session_scope
        from models.tables import Run

        t0 = time.time()
        run = create_and_enqueue_run(organization_id=org, workflow_id=wf, **kwargs)

        def done():
            with session_scope() as s:
                r = s.get(Run, run.id)
                return r if r.status in ("completed", "error", "cancelled") else None

        final = wait_for(done, timeout, interval=0.05, what="wft run")
        assert final.status == "completed" and final.passed == final.total_tests, final.counts()
        return final, final.completed_at.timestamp() - t0

    # ---------------------------------------------------------------- baseline side
    def bare_chord(self, n: int, k: int = 0, sleep_s: float = 0.0, timeout: float = 900) -> tuple[float, float]:
        """End-to-end seconds and publish seconds of a bare chord published from a worker."""
        key = f"bench:{secrets.token_hex(4)}"
        t0 = time.time()
        from workers.app import app

        app.send_task("bench.publish_chord", args=[n, key, k, sleep_s], queue="wft.control")
        item = self.r.blpop([key], timeout=timeout)
        assert item is not None, "baseline chord did not finish"
        published = float(self.r.lpop(key + ":published") or 0)
        return float(item[1]) - t0, published

    def bare_chord_publish_only(self, n: int) -> tuple[float, float]:
        """Publish a bare n-task chord from the control worker; nobody consumes it."""
        key = f"bench:{secrets.token_hex(4)}"
        from workers.app import app

        app.send_task("bench.publish_chord", args=[n, key, 0, 0.0], queue="wft.control")
        item = self.r.blpop([key + ":published"], timeout=600)
        assert item is not None, "the bare chord was not published"
        return 0.0, float(item[1])


def p1(b: Bench, reps: int, n: int, out: dict) -> None:
    for k in (1, 5):
        org, wf = b.workflow(n, n_consensus=k if k > 1 else None)
        wft_s, bare_s = [], []
        for _ in range(reps):
            wft_s.append(b.wft_run(org, wf)[1])
            bare_s.append(b.bare_chord(n, k=0 if k == 1 else k)[0])
        ratio = statistics.median(wft_s) / statistics.median(bare_s)
        out[f"p1_n{k}"] = {"wft": stats(wft_s), "celery": stats(bare_s), "ratio": ratio}
        print(f"P1 N={n} n={k}: wft {fmt(stats(wft_s))}  bare celery {fmt(stats(bare_s))}  ratio {ratio:.2f} (target ≤ 1.3)")


def p2(b: Bench, reps: int, out: dict) -> None:
    from models.db import session_scope
    from models.tables import Result

    org, wf = b.workflow(1, latency_ms=200, n_consensus=5)
    walls, e2e = [], []
    for _ in range(reps):
        run, took = b.wft_run(org, wf)
        with session_scope() as s:
            r = s.query(Result).filter(Result.run_id == run.id).one()
            walls.append((r.completed_at - r.started_at).total_seconds() / 0.2)
        e2e.append(took / 0.2)
    out["p2"] = {"test_wall_over_L": stats(walls), "run_e2e_over_L": stats(e2e)}
    print(f"P2 n=5 L=200ms: test wall / L {fmt(stats(walls), '')} (target ≤ 1.3); whole run / L {fmt(stats(e2e), '')}")


def p3(b: Bench, reps: int, out: dict, n: int = 1000, k: int = 5, latency: float = 0.05, slots: int = 16) -> None:
    ideal = n * k * latency / slots
    org, wf = b.workflow(n, latency_ms=int(latency * 1000), n_consensus=k)
    wft_eff, bare_eff = [], []
    for _ in range(reps):
        wft_eff.append(ideal / b.wft_run(org, wf)[1])
        bare_eff.append(ideal / b.bare_chord(n, k=k, sleep_s=latency)[0])
    ratio = statistics.median(wft_eff) / statistics.median(bare_eff)
    out["p3"] = {"ideal_s": ideal, "wft_eff": stats(wft_eff), "celery_eff": stats(bare_eff), "ratio": ratio}
    print(f"P3 {n}×n={k} L={latency*1000:.0f}ms on {slots} call slots: efficiency wft {fmt(stats(wft_eff), '')} "
          f"bare {fmt(stats(bare_eff), '')} ratio {ratio:.2f} (target ≥ 0.9)")


def p5_p6_fanout(b: Bench, reps: int, out: dict, n: int = 10_000) -> None:
    """Fan-out of 10k tests with only the control worker running (nothing consumes the tests),
    against publishing a bare 10k chord from the same worker."""
    from models.db import session_scope
    from models.tables import Run

    b.stop_workers()
    control = b.worker("control-fanout", "wft.control", "prefork", 1)
    child = child_pids(control.pid)[0]
    rss_before = _status_kb(child, "VmRSS")
    org, wf = b.workflow(n)
    from api_adapter.adapter import cancel_run, create_and_enqueue_run

    wft_s, bare_s = [], []
    for _ in range(reps):
        run = create_and_enqueue_run(organization_id=org, workflow_id=wf)

        def dispatched():
            with session_scope() as s:
                r = s.get(Run, run.id)
                return r if r.dispatched_at else None

        r = wait_for(dispatched, 300, interval=0.05, what="fan-out dispatch")
        wft_s.append((r.dispatched_at - r.started_at).total_seconds())
        with session_scope() as s:
            cancel_run(s, organization_id=org, run_id=run.id)
        b.r.delete("wft.tests")
    hwm = _status_kb(child, "VmHWM")  # before the baseline runs in the same child
    for _ in range(reps):
        _, published = b.bare_chord_publish_only(n)
        bare_s.append(published)
        b.r.delete("wft.tests")
    ratio = statistics.median(wft_s) / statistics.median(bare_s)
    out["p5"] = {"wft": stats(wft_s), "celery_publish": stats(bare_s), "ratio": ratio}
    out["p6_fanout_rss_growth_mb"] = (hwm - rss_before) / 1024
    print(f"P5 fan-out {n}: wft running→dispatched {fmt(stats(wft_s))}  bare publish {fmt(stats(bare_s))}  "
          f"ratio {ratio:.2f} (target ≤ 1.2)")
    print(f"P6 fan-out worker peak RSS growth over {reps} fan-outs of {n}: {(hwm - rss_before) / 1024:.1f} MB (target ≤ 100 MB)")
    b.stop_workers()


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def p4_p6_api(b: Bench, reps: int, out: dict, requests: int = 10_000) -> None:
    """Create-run latency with 1 vs 10k tests (no worker consumes: runs stay pending), then the
    API's RSS over many requests."""
    import subprocess

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api = ManagedProcess([str(VENV_BIN / "wft"), "api", "--port", str(port), "--log-level", "warning"],
                         {**b.env, "WFT_PUBLIC_URL": url}, b.root / "api.log", "api", cwd=ROOT)
    b.procs.append(api)
    wait_for(lambda: httpx.get(url + "/healthz", timeout=2).status_code == 200, 60, what="api")
    key = subprocess.run([str(VENV_BIN / "wft"), "apikey", "create", "--org", "bench"], env=b.env,
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    from models.db import session_scope
    from models.tables import ApiKey

    with session_scope() as s:
        org = s.query(ApiKey).order_by(ApiKey.created_at.desc()).first().organization_id
    from tests.support import seed

    def workflow_with(n: int) -> str:
        wf = seed.make_workflow(org)
        seed.put_block(wf, "x", "extract", {"json_schema": seed.TRIVIAL_SCHEMA})
        seed.add_tests_bulk(org, wf, "x", n, {}, {"target": {"output_handle_id": "output-json-0", "path": ""},
                                                  "condition": {"kind": "exists"}})
        return wf

    small, big = workflow_with(1), workflow_with(10_000)
    per = max(50, reps * 30)
    lat: dict[str, list[float]] = {"1": [], "10000": []}
    with httpx.Client(base_url=url + "/v1", headers={"Api-Key": key}, timeout=30) as client:
        for _ in range(per):
            for label, wf in (("1", small), ("10000", big)):
                t0 = time.perf_counter()
                resp = client.post(f"/workflows/{wf}/tests/runs", json={})
                lat[label].append(time.perf_counter() - t0)
                assert resp.status_code == 200, resp.text
        b.r.delete("wft.control")

        def p95(xs: list[float]) -> float:
            return sorted(xs)[int(0.95 * (len(xs) - 1))]

        ratio = p95(lat["10000"]) / p95(lat["1"])
        out["p4"] = {"p95_1_ms": p95(lat["1"]) * 1000, "p95_10000_ms": p95(lat["10000"]) * 1000, "ratio": ratio, "n": per}
        print(f"P4 create-run p95: 1 test {p95(lat['1'])*1000:.1f} ms, 10,000 tests {p95(lat['10000'])*1000:.1f} ms, "
              f"ratio {ratio:.2f} (target ≤ 1.2)")

        run_id = client.get("/workflows/tests/runs", params={"limit": 1}).json()["data"][0]["id"]
        samples = []
        for i in range(requests):
            assert client.get(f"/workflows/tests/runs/{run_id}").status_code == 200
            if i % 1000 == 0 or i == requests - 1:
                samples.append(_status_kb(api.pid, "VmRSS") / 1024)
    out["p6_api_rss_mb"] = samples
    print(f"P6 API RSS over {requests} requests: first {samples[0]:.1f} MB, after 1k {samples[1]:.1f} MB, "
          f"last {samples[-1]:.1f} MB (growth after warm-up {samples[-1] - samples[1]:+.1f} MB; target flat)")
    api.stop()
    b.procs.remove(api)




def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="p1,p2,p3,p4,p5")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--n", type=int, default=2000, help="tests per P1 run")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    root = Path(tempfile.mkdtemp(prefix="wft-bench-"))
    out: dict = {"date": datetime.now(timezone.utc).isoformat(), "machine": platform.platform(),
                 "cpus": os.cpu_count(), "command": " ".join(["python -m bench.run_all", *(argv or sys.argv[1:])])}
    print(f"wft bench on {out['machine']} ({out['cpus']} cpus), logs in {root}")
    b = Bench(root)
    try:
        if only & {"p4"}:
            p4_p6_api(b, args.reps, out)
        if only & {"p1", "p2", "p3"}:
            b.standard_workers()
            if "p1" in only:
                p1(b, args.reps, args.n, out)
            if "p2" in only:
                p2(b, args.reps, out)
            if "p3" in only:
                p3(b, args.reps, out)
        if only & {"p5", "p6"}:
            p5_p6_fanout(b, args.reps, out)
    finally:
        b.close()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / "results.jsonl", "a") as fh:
        fh.write(json.dumps(out, default=str) + "\n")
    print(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
