#!/usr/bin/env bash
# What the test suite needs beyond requirements-dev.txt. Idempotent: fast when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- Browser UI tests (tests/test_ui_browser.py) -----------------------------------------------
# Playwright drives Debian's chromium (its own browser download is not available here).
if [ ! -x /usr/bin/chromium ]; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    echo "Installing Debian's chromium for the browser tests..." >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
