#!/usr/bin/env bash
# What the test suite needs beyond requirements-dev.txt. Idempotent: fast when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
