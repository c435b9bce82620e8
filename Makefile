VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: install test test-faults bench demo api worker beat flower lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(VENV)/bin/pytest tests -q --ignore=tests/faults

test-faults: $(STAMP)
	$(VENV)/bin/pytest tests/faults -q

bench: $(STAMP)
	$(PY) -m bench.run_all

demo: $(STAMP)
	$(VENV)/bin/wft demo $(ARGS)

api: $(STAMP)
	$(VENV)/bin/wft api

worker: $(STAMP)
	$(VENV)/bin/wft worker

beat: $(STAMP)
	$(VENV)/bin/wft beat

flower: $(STAMP)
	$(VENV)/bin/celery -A workers.app flower

clean:
	rm -rf $(VENV) .pytest_cache
