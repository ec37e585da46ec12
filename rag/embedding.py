"""The embedding model: offline multilingual-e5-small by default, any sentence-transformers model
by name or path otherwise."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from .settings import Settings

DEFAULT_MODEL = "e5-small"


def _offline_env() -> None:
    # Nothing may reach a model hub at run time; set before transformers is imported.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def model_dir(settings: Settings) -> Path:
    return Path(settings.model_cache) / "multilingual-e5-small"


def resolve_model(settings: Settings, progress=None) -> str:
    """The local path (or name) that sentence-transformers should load."""
    if settings.embedding_model != DEFAULT_MODEL:
        return settings.embedding_model
    from . import e5_weights

    target = model_dir(settings)
    if not e5_weights.is_complete(target):
        e5_weights.materialize(target, progress=progress or (lambda m: print(m, file=sys.stderr)))
    return str(target)


class Embedder:
    def __init__(self, settings: Settings, progress=None):
        _offline_env()
        import transformers
        from sentence_transformers import SentenceTransformer

        # Loading bars and deprecation chatter would drown the answer in CLI output.
        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()

        self.settings = settings
        self.name = settings.embedding_model
        path = resolve_model(settings, progress)
        try:
            self.model = SentenceTransformer(path, device="cpu", local_files_only=True)
        except OSError as e:
            from .results import RagError

            raise RagError(f"The embedding model '{path}' could not be loaded offline: {e}") from None
        self.dim = self.model.get_embedding_dimension()

    def queries(self, texts: list[str]) -> np.ndarray:
        return self._encode([self.settings.query_prompt + t for t in texts])

    def passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        return self._encode([self.settings.passage_prompt + t for t in texts], show_progress)

    def _encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.model.encode(texts, batch_size=self.settings.embed_batch_size,
                                 normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=show_progress).astype(np.float32)
