"""Shared fixtures: one real embedding model per test session, a real Chroma store per test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def embedder():
    from rag.embedding import Embedder
    from rag.settings import Settings

    return Embedder(Settings.from_env())


@pytest.fixture
def make_assistant(tmp_path, embedder):
    """make_assistant(seed=True, **settings overrides) -> Assistant on a fresh store in tmp_path."""
    from rag import Assistant, Settings
    from rag.store import ChunkStore

    def make(seed: bool = True, **overrides):
        overrides.setdefault("store_dir", tmp_path / "store")
        settings = Settings.from_env(**overrides)
        bot = Assistant(settings, embedder, ChunkStore(settings, embedder.name))
        if seed:
            bot.ingest([settings.seeds_dir])
        return bot

    return make


@pytest.fixture
def server():
    """The scripted OpenAI-compatible chat server on loopback (tests/scripted_llm.py)."""
    from scripted_llm import ScriptedLLM

    with ScriptedLLM() as s:
        yield s


@pytest.fixture(scope="session")
def seeded(tmp_path_factory, embedder):
    """A read-only Assistant over the five seed articles, shared by the whole session."""
    from rag import Assistant, Settings
    from rag.store import ChunkStore

    settings = Settings.from_env(store_dir=tmp_path_factory.mktemp("seeded") / "store")
    bot = Assistant(settings, embedder, ChunkStore(settings, embedder.name))
    bot.ingest([settings.seeds_dir])
    return bot


# --- test tiers -------------------------------------------------------------------------------
# `make test-fast` runs `pytest -m unit`: the tests of these modules that use none of the fixtures
# below, i.e. no embedding model, browser, LLM server or data set. Every other test (subprocesses,
# the browser, servers, models) is only in the full run, `make test`.
UNIT_MODULES = {"test_chat", "test_chunking", "test_citations", "test_cleaning", "test_cloze", "test_e5_weights",
                "test_extractive", "test_feedback", "test_fusion_lexical", "test_glossary", "test_language",
                "test_metrics",
                "test_ui_render"}
HEAVY_FIXTURES = {"embedder", "make_assistant", "seeded", "model_dir", "st_model", "nano"}
HEAVY_TESTS = {"test_incomplete_directory_is_replaced"}   # writes the whole half-GB model
# Imported by anything that loads the model; a unit run that imports them has a misfiled test.
MODEL_MODULES = ("torch", "sentence_transformers", "chromadb", "gradio", "playwright")


def pytest_ignore_collect(collection_path, config):
    # The unit tier does not even import the other modules (they import the heavy libraries).
    if config.getoption("markexpr", "") == "unit" and collection_path.suffix == ".py" \
            and collection_path.name.startswith("test_") and collection_path.stem not in UNIT_MODULES:
        return True
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module.__name__ in UNIT_MODULES and not HEAVY_FIXTURES & set(item.fixturenames) \
                and item.originalname not in HEAVY_TESTS:
            item.add_marker(pytest.mark.unit)


def pytest_sessionfinish(session, exitstatus):
    import sys

    if session.config.getoption("markexpr", "") != "unit":
        return
    loaded = [m for m in MODEL_MODULES if m in sys.modules]
    if loaded:
        session.config.get_terminal_writer().line(
            f"The unit tier imported {', '.join(loaded)}: a test that needs them is marked unit "
            f"(tests/conftest.py UNIT_MODULES / HEAVY_FIXTURES).", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
