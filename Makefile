# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint install bytecode migrate seed check-rubrics clean bench bench-mail

$(BIN)/activate: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(BIN)/activate

install: $(BIN)/activate

# The project's modules compiled ahead (skips what is up to date): with PYTHONDONTWRITEBYTECODE
# set, as on our machines, every process otherwise compiled them again at start-up (0.6 of the
# 1.6 CPU-seconds of importing the app and create_app measured there). Python still reads .pyc files it may not write.
bytecode: install
	$(BIN)/python -m compileall -q app.py models.py review migrations >/dev/null

migrate: install bytecode
	mkdir -p instance
	$(FLASK) db upgrade

seed: migrate
	$(FLASK) demo seed --with-activity

# Serves the demo on http://127.0.0.1:5000. The session cookie is not marked Secure here because
# the local server speaks plain HTTP; production keeps the Secure default (see README).
# A job worker (mail) runs beside the server on the embedded queue (instance/jobs.sqlite) and
# stops with it.
run: seed
	$(FLASK) worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  FLASK_SESSION_COOKIE_SECURE=false $(FLASK) run --host $(HOST) --port $(PORT)

test: install
	$(FLASK) rubrics check
	# pytest's exit code 5 means "no tests collected": never a pass, reported as a failure.
	$(BIN)/python -m pytest -q -p no:cacheprovider; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# Security lint: bandit at medium severity and up; a finding fails the build. A false positive
# gets a `# nosec BXXX` with a comment saying why.
lint: install
	$(BIN)/bandit -q -ll -r review app.py models.py

check-rubrics: install
	$(FLASK) rubrics check

clean:
	rm -rf $(VENV) instance/review.sqlite*

# Not part of `make test`: seeds a full term, runs the application and the bare ceiling app under
# gunicorn on SQLite and PostgreSQL (127.0.0.1:5432, if it answers), writes bench/RESULTS.md and
# bench/results.json. About 10-15 minutes; loopback only.
bench: install bytecode
	$(BIN)/python bench/run_bench.py

# Not part of `make test`: 300 review reminders queued and sent by `flask worker` to a local SMTP
# server while gunicorn serves the course home page; about a minute, loopback only.
bench-mail: install
	$(BIN)/python bench/bench_reminders.py
