#!/usr/bin/env bash
# Debian's Chromium, for the report's real-browser test (tests/test_report.py). Idempotent:
# does nothing when a chromium is already on PATH.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  echo "chromium: already installed ($(command -v chromium || command -v chromium-browser))"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "chromium: not installed; run this script as root (it uses apt-get)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "chromium: installed ($(chromium --version))"
