"""The ``wft`` command line."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile


def _db_upgrade(args: argparse.Namespace) -> int:
    from models.migrate import upgrade

    upgrade(args.database_url)
    print("database upgraded to head")
    return 0


def _apikey_create(args: argparse.Namespace) -> int:
    from api_adapter.keys import create_api_key
    from models.db import session_scope

    with session_scope() as session:
        key = create_api_key(session, args.org)
    print(f"API key for organization {args.org!r} (shown once):")
    print(key)
    return 0


def _apikey_revoke(args: argparse.Namespace) -> int:
    from api_adapter.keys import revoke_api_key
    from models.db import session_scope

    with session_scope() as session:
        ok = revoke_api_key(session, args.key)
    print("revoked" if ok else "no such key")
    return 0 if ok else 1


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run("api_adapter.app:app", host=args.host, port=args.port, workers=args.workers,
                log_level=args.log_level, access_log=False)
    return 0


def _worker(args: argparse.Namespace) -> int:
    from workers.pools import worker_argv

    argv = worker_argv(pool_preset=args.pool, queues=args.queues, concurrency=args.concurrency,
                       loglevel=args.loglevel, hostname=args.hostname, extra=args.extra)
    if os.environ.get("WFT_METRICS_PORT") and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Prefork children count in their own processes: multiprocess mode sums them for the
        # scraper. A fresh directory per worker start, so no stale samples from an earlier one.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="wft-metrics-")
    os.execvp(argv[0], argv)
    return 0  # pragma: no cover


def _beat(args: argparse.Namespace) -> int:
    argv = [sys.executable, "-m", "celery", "-A", "workers.app", "beat", "--loglevel", args.loglevel]
    if args.schedule:
        argv += ["--schedule", args.schedule]
    os.execvp(argv[0], argv)
    return 0  # pragma: no cover


def _demo(args: argparse.Namespace) -> int:
    from api_adapter.demo import run_demo

    return run_demo(keep=args.keep)


def _run(args: argparse.Namespace) -> int:
    from api_adapter.run_cli import run_command

    return run_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wft", description="Self-hosted distributed runner for workflow tests")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    up = db.add_parser("upgrade", help="apply Alembic migrations up to head")
    up.add_argument("--database-url", default=None)
    up.set_defaults(func=_db_upgrade)

    keys = sub.add_parser("apikey", help="API keys").add_subparsers(dest="apikey_command", required=True)
    create = keys.add_parser("create", help="create a key (and the organization if needed)")
    create.add_argument("--org", required=True, help="organization name")
    create.set_defaults(func=_apikey_create)
    revoke = keys.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key")
    revoke.set_defaults(func=_apikey_revoke)

    api = sub.add_parser("api", help="serve the HTTP API")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--workers", type=int, default=1)
    api.add_argument("--log-level", default="info")
    api.set_defaults(func=_api)

    worker = sub.add_parser("worker", help="start a Celery worker")
    worker.add_argument("--queues", "-Q", default=None, help="comma-separated queues (default: every queue)")
    worker.add_argument("--pool", "-P", default=None,
                        help="a preset (control, tests, calls) or a Celery pool type (prefork, threads, solo, gevent)")
    worker.add_argument("--concurrency", "-c", type=int, default=None)
    worker.add_argument("--loglevel", "-l", default="info")
    worker.add_argument("--hostname", "-n", default=None)
    worker.add_argument("extra", nargs=argparse.REMAINDER, help="extra arguments passed to celery worker")
    worker.set_defaults(func=_worker)

    beat = sub.add_parser("beat", help="start Celery beat (the reaper's schedule)")
    beat.add_argument("--loglevel", "-l", default="info")
    beat.add_argument("--schedule", default=None, help="path of beat's schedule file")
    beat.set_defaults(func=_beat)

    demo = sub.add_parser("demo", help="run a complete demo on throwaway PostgreSQL and Redis")
    demo.add_argument("--keep", action="store_true", help="leave the stack running (with Flower)")
    demo.set_defaults(func=_demo)

    run = sub.add_parser("run", help="run a workflow's tests against a wft server")
    run.add_argument("workflow_id")
    sel = run.add_mutually_exclusive_group()
    sel.add_argument("--test", dest="test_id")
    sel.add_argument("--block", dest="block_id")
    run.add_argument("--n-consensus", type=int, choices=(3, 5, 7))
    run.add_argument("--wait", action="store_true")
    run.add_argument("--junit", metavar="FILE")
    run.add_argument("--json", action="store_true")
    run.add_argument("--timeout", type=float, default=3600.0)
    run.set_defaults(func=_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
