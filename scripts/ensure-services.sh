#!/usr/bin/env bash
# Bring up the local servers the test suite and the benchmarks talk to, if they are down.
# PostgreSQL and Redis are installed on the project's machines; we only start them.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  fi
fi
pg_up && echo "PostgreSQL: up" || echo "PostgreSQL: NOT reachable on 127.0.0.1:5432"
# The owner and application roles that tests/store/test_least_privilege.py connects as.
pg_up && bash "$(dirname "$0")/create-db-roles.sh"

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
if ! redis_up && command -v redis-server >/dev/null 2>&1; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  for _ in $(seq 1 10); do redis_up && break; sleep 1; done
fi
redis_up && echo "Redis: up" || echo "Redis: NOT reachable on 127.0.0.1:6379"
