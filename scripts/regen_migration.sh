#!/usr/bin/env bash
# Rewrites the initial migration from models.py. Only valid while no deployment has applied it:
# once a department runs the platform, schema changes become new revisions instead.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -f migrations/versions/*_0001_initial_schema.py
DATABASE_URL="sqlite:///$tmp/regen.sqlite" .venv/bin/flask --app app db migrate -m "initial schema" --rev-id 0001 >/dev/null 2>"$tmp/log" || { cat "$tmp/log"; exit 1; }
ls migrations/versions/*_0001_initial_schema.py
