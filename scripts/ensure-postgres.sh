#!/usr/bin/env bash
# Prints a DATABASE_URL for a reachable PostgreSQL: $DATABASE_URL when set, else a server on
# 127.0.0.1:5432, else the machine's cluster, started (and installed from Debian) as needed.
# Exits non-zero with a one-line reason when no PostgreSQL can be had.
set -euo pipefail

PYTHON="${PYTHON:-.venv/bin/python}"
DB_NAME="${POSTGRES_DB:-whatsapp_session_admin}"
URL="postgres://postgres@127.0.0.1:5432/${DB_NAME}"
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

log() { echo "ensure-postgres: $*" >&2; }

if [ -n "${DATABASE_URL:-}" ]; then
  echo "$DATABASE_URL"
  exit 0
fi

can_log_in() {
  "$PYTHON" - <<'PY' >/dev/null 2>&1
import psycopg
psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=3).close()
PY
}

if ! can_log_in; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null; then
      log "no PostgreSQL on 127.0.0.1:5432 and no apt-get to install one; set DATABASE_URL"
      exit 1
    fi
    log "installing Debian's postgresql"
    apt_get=(env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600)
    { $SUDO "${apt_get[@]}" update && $SUDO "${apt_get[@]}" install -y postgresql; } >&2
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  # The tests connect over TCP as postgres without a password, on loopback only.
  if ! $SUDO grep -q "wsa-trust-loopback" "$hba"; then
    $SUDO sed -i '1i host all postgres 127.0.0.1/32 trust # wsa-trust-loopback' "$hba"
  fi
  log "starting the PostgreSQL $version cluster"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 \
    || $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main reload >&2 || true
  for _ in $(seq 1 30); do can_log_in && break; sleep 1; done
fi

if ! can_log_in; then
  log "PostgreSQL does not accept postgres on 127.0.0.1:5432"
  exit 1
fi
echo "$URL"
