# Two commands do everything on a fresh machine:  make run   /   make test
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False

.PHONY: run test test-fast install install-dev clean-store dictionary

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	# The project itself, editable: `import rag` from any directory and the `rag` command.
	$(PY) -m pip install -q -e . --no-deps
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed dictionary
install-dev: $(VENV)/.installed-dev dictionary

# German-English dictionary for English short answers (rag/glossary.py), into .cache/dictionary.
dictionary:
	bash scripts/fetch-dictionary.sh

run: $(VENV)/.installed dictionary
	$(PY) app.py

# Everything: models, browser, LLM servers, evaluation (what .ci/run calls).
test: $(VENV)/.installed-dev dictionary
	bash scripts/install-test-deps.sh
	$(PY) -m pytest -q --durations=15 tests

# Unit tests only (no model, browser, LLM or data set; tests/conftest.py says which): seconds.
test-fast: $(VENV)/.installed-dev
	$(PY) -m pytest -q -m unit tests

clean-store:
	rm -rf store
