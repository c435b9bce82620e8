"""The Celery app (``celery -A workers.app worker``), configured from the settings object.

Every choice below answers a failure mode measured in ``shared/reference/celery-baseline.md``:
acks_late + reject_on_worker_lost so a killed pool child's task is redelivered instead of failing
the chord; cancel-on-connection-loss so a broker blip cannot run a test twice concurrently;
prefetch 1 because tests are long; a visibility timeout above the longest task so Redis does
not redeliver live work; result_expires well above the longest run so chord keys survive.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_init, worker_process_init, worker_process_shutdown
from kombu import Exchange, Queue

from models.settings import get_settings

CONTROL_QUEUE = "wft.control"
TESTS_QUEUE = "wft.tests"
CALLS_QUEUE = "wft.calls"
QUEUES = (CONTROL_QUEUE, TESTS_QUEUE, CALLS_QUEUE)

TASK_ROUTES = {
    "wft.fan_out_run": {"queue": CONTROL_QUEUE},
    "wft.finalize_run": {"queue": CONTROL_QUEUE},
    "wft.finalize_run_on_error": {"queue": CONTROL_QUEUE},
    "wft.reap": {"queue": CONTROL_QUEUE},
    "wft.run_test": {"queue": TESTS_QUEUE},
    "wft.reconcile_and_assert": {"queue": TESTS_QUEUE},
    "wft.block_call": {"queue": CALLS_QUEUE},
}


def make_app() -> Celery:
    s = get_settings()
    app = Celery("wft", broker=s.broker_url, backend=s.result_backend, include=["workers.tasks"])
    longest_task_s = max(s.wft_run_test_soft_limit_s, s.wft_block_call_soft_limit_s) + 60
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_prefetch_multiplier=1,
        task_time_limit=longest_task_s,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": max(s.wft_visibility_timeout_s, longest_task_s + 30),
            "unacked_restore_interval": s.wft_unacked_restore_interval_s,
            "unacked_restore_throttle": s.wft_unacked_restore_throttle,
        },
        # Chord keys are refreshed on every header completion and expire with this TTL; keep it
        # far above the longest run so a slow run never loses its chord (the reaper covers the rest).
        result_expires=max(2 * s.wft_run_deadline_s, 24 * 3600),
        result_extended=False,
        worker_send_task_events=True,
        task_send_sent_event=True,
        task_track_started=True,
        task_default_queue=TESTS_QUEUE,
        task_queues=[Queue(q, Exchange(q, type="direct"), routing_key=q) for q in QUEUES],
        task_routes=TASK_ROUTES,
        beat_schedule={
            "wft.reap": {"task": "wft.reap", "schedule": s.wft_reaper_interval_s,
                         "options": {"queue": CONTROL_QUEUE, "expires": max(5.0, s.wft_reaper_interval_s)}},
        },
    )
    return app


app = make_app()


@worker_process_init.connect
def _fresh_connections_after_fork(**_: object) -> None:
    # A forked pool child must not share the parent's pooled PostgreSQL connections.
    from models.db import dispose_engine

    dispose_engine()


@worker_init.connect
def _serve_metrics(**_: object) -> None:
    # In the worker's main process only: one endpoint per worker, whatever its pool.
    port = get_settings().wft_metrics_port
    if port:
        from workers.observability import serve_metrics

        serve_metrics(port)


@worker_process_shutdown.connect
def _forget_metrics_of_exited_child(pid: int | None = None, **_: object) -> None:
    from workers.observability import forget_process

    forget_process(pid or os.getpid())
