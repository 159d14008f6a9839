#!/usr/bin/env bash
# Install Debian's `prometheus` package (it ships `promtool`) when missing. We only need the
# binaries: the packaged service is kept from starting, and tests/demos run their own instance
# on 127.0.0.1 with a temporary data directory.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  prometheus --version 2>&1 | head -n1
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "prometheus/promtool missing: run 'apt-get install prometheus' as root" >&2
  exit 1
fi
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  guard=1
fi
trap '[ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
# Should the packaged service have started anyway, stop it (never one of ours).
pkill -f '^/usr/bin/prometheus --config.file=/etc/prometheus' 2>/dev/null || true
prometheus --version 2>&1 | head -n1
