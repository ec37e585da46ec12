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


@pytest.fixture(scope="session")
def seeded(tmp_path_factory, embedder):
    """A read-only Assistant over the five seed articles, shared by the whole session."""
    from rag import Assistant, Settings
    from rag.store import ChunkStore

    settings = Settings.from_env(store_dir=tmp_path_factory.mktemp("seeded") / "store")
    bot = Assistant(settings, embedder, ChunkStore(settings, embedder.name))
    bot.ingest([settings.seeds_dir])
    return bot
