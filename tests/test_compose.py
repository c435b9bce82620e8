"""docker-compose.yml: valid against the Compose Specification, and every command is one wft accepts."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from api_adapter.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SCHEMA = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
# The spec declares "https://json-schema.org/draft-07/schema" (https, no '#'), which jsonschema's
# registry does not recognise; name the draft explicitly instead of letting it guess.
VALIDATOR = jsonschema.Draft7Validator


def test_compose_file_matches_the_compose_specification():
    jsonschema.validate(COMPOSE, SCHEMA, cls=VALIDATOR)


def test_compose_has_every_service_of_the_design():
    assert set(COMPOSE["services"]) == {"postgres", "redis", "migrate", "api", "worker-control", "worker-tests",
                                        "worker-calls", "beat", "flower"}


def test_redis_is_append_only_and_never_evicts():
    command = COMPOSE["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


@pytest.mark.parametrize("name", ["migrate", "api", "worker-control", "worker-tests", "worker-calls", "beat"])
def test_every_wft_command_parses(name):
    command = COMPOSE["services"][name]["command"]
    assert command[0] == "wft"
    args = build_parser().parse_args(command[1:])
    assert callable(args.func)


@pytest.mark.parametrize("name,preset", [("worker-control", "control"), ("worker-tests", "tests"), ("worker-calls", "calls")])
def test_worker_services_use_the_pool_presets(name, preset):
    from workers.pools import presets, worker_argv

    args = build_parser().parse_args(COMPOSE["services"][name]["command"][1:])
    argv = worker_argv(pool_preset=args.pool, queues=args.queues, concurrency=args.concurrency,
                       loglevel=args.loglevel, hostname=args.hostname, extra=args.extra)
    p = presets()[preset]
    assert argv[argv.index("--queues") + 1] == ",".join(p.queues)
    assert argv[argv.index("--pool") + 1] == p.pool
    # The healthcheck pings exactly the node this command names (%h = the container's hostname).
    node = argv[argv.index("--hostname") + 1]
    assert node == f"{preset}@%h"
    healthcheck = " ".join(COMPOSE["services"][name]["healthcheck"]["test"])
    assert f'inspect ping -d "{node.replace("%h", "$$(hostname)")}"' in healthcheck


def test_flower_runs_the_celery_app_with_basic_auth():
    command = COMPOSE["services"]["flower"]["command"]
    assert command[:4] == ["celery", "-A", "workers.app", "flower"]
    assert any(part.startswith("--basic-auth=") for part in command)
    import importlib

    assert importlib.import_module("workers.app").app.main == "wft"


def test_services_wait_for_healthy_dependencies():
    for name, service in COMPOSE["services"].items():
        for dep, cond in (service.get("depends_on") or {}).items():
            assert cond["condition"] in ("service_healthy", "service_completed_successfully"), (name, dep)
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in COMPOSE["services"][dep], dep


def test_the_schema_check_rejects_an_unknown_service_key():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"services": {"api": {"comand": ["wft", "api"]}}}, SCHEMA, cls=VALIDATOR)
