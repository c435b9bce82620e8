"""Profile the per-test work of ``wft.run_test`` in-process (no broker): claim, load, call,
assert, finish. ``python -m bench.profile_test_task [N]`` against DATABASE_URL's server."""

from __future__ import annotations

import cProfile
import os
import pstats
import secrets
import sys
import time


def main(n: int = 300) -> None:
    import psycopg

    base = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"wft_profile_{secrets.token_hex(3)}"
    with psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + "/" + name
    os.environ["DATABASE_URL"] = url
    try:
        from models.migrate import upgrade

        upgrade(url)
        from tests.support import seed
        from workers import state
        from workers.tasks import _single_call
        from workers.execute import build_context

        org, wf = seed.trivial_extract_workflow(n)
        from api_adapter.adapter import create_run
        from models.db import session_scope

        with session_scope() as s:
            run, _ = create_run(s, organization_id=org, workflow_id=wf)
        fan = state.start_run(run.id)

        def one(test_id: str) -> None:
            claim = state.claim_result(run.id, test_id, lease_s=60, max_attempts=3)
            ctx = build_context(run.id, test_id, claim.context_row)
            outcome = _single_call(ctx, claim.attempt)
            assert state.finish_result(run.id, test_id, claim.attempt, outcome)

        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        for test_id in fan.test_ids:
            one(test_id)
        prof.disable()
        took = time.perf_counter() - t0
        print(f"{n} tests in {took:.2f} s: {took / n * 1000:.2f} ms per test")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    finally:
        from models.db import dispose_engine

        dispose_engine()
        with psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
