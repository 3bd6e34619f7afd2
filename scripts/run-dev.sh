#!/usr/bin/env bash
# `make run`: the admin with demo data on http://127.0.0.1:${PORT:-8000}/admin/, served by gunicorn.
#
# Development settings (DJANGO_DEBUG=1) on the SQLite file db.sqlite3. DATABASE_URL from the
# calling shell is deliberately not used, so a PostgreSQL URL exported for the tests is never
# migrated and seeded by accident: set RUN_DATABASE_URL to serve another database.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-.venv/bin/python}"
PORT="${PORT:-8000}"
export DJANGO_SETTINGS_MODULE=config.settings
export DJANGO_DEBUG=1
export DATABASE_URL="${RUN_DATABASE_URL:-sqlite:///$PWD/db.sqlite3}"

"$PYTHON" manage.py migrate --noinput -v 0
"$PYTHON" manage.py seed_demo
login=$("$PYTHON" scripts/ensure-superuser.py)
"$PYTHON" manage.py collectstatic --noinput -v 0

echo
echo "  Admin:    http://127.0.0.1:${PORT}/admin/"
echo "  Login:    ${login}"
echo "  Database: ${DATABASE_URL}"
echo "  Stop with Ctrl-C."
echo
exec "$PYTHON" -m gunicorn --config config/gunicorn.conf.py --bind "127.0.0.1:${PORT}"
