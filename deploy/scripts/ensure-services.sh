#!/usr/bin/env bash
# Make sure the local PostgreSQL and Redis the tests use are reachable; start them when
# they are installed but down. Used by `make test` and .ci/run.
set -euo pipefail

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    ver=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
    echo "starting PostgreSQL ${ver} ..."
    pg_ctlcluster --skip-systemctl-redirect "${ver}" main start || true
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
pg_up || { echo "PostgreSQL is not reachable on 127.0.0.1:5432 (install it or set TEST_PG_ADMIN_URL)"; exit 1; }

if ! redis_up; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "starting Redis ..."
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  fi
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi
redis_up || { echo "Redis is not reachable on 127.0.0.1:6379 (install it or set TEST_REDIS_URL)"; exit 1; }
echo "PostgreSQL and Redis are up"
