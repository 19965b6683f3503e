#!/usr/bin/env bash
# System packages the test suite uses beyond Python (Debian/Ubuntu, as root or with sudo).
# Idempotent: installs only what is missing.
set -euo pipefail
packages=()
command -v make >/dev/null 2>&1 || packages+=(make)
python3 -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
command -v wrk >/dev/null 2>&1 || packages+=(wrk)                # bench/ and its smoke test
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)    # tests/rules, tests/e2e
command -v amtool >/dev/null 2>&1 || packages+=(prometheus-alertmanager)  # tests/rules: Alertmanager config
if [ ${#packages[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi
