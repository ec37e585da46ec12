"""The one settings object. Every field can be overridden by an env var `RAG_<FIELD>`."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Settings:
    # Where the embedded Chroma database, the lexical index and the file manifest live.
    store_dir: Path = PROJECT_ROOT / "store"
    # When set (e.g. http://127.0.0.1:8000), Chroma is used as a server instead of embedded.
    chroma_url: str = ""
    collection: str = "articles"
    # Folder(s) ingested when a store is used for the first time.
    seeds_dir: Path = PROJECT_ROOT / "seeds"

    # "e5-small" is the offline default rebuilt from packaged weights; anything else is a
    # sentence-transformers model name or path.
    embedding_model: str = "e5-small"
    model_cache: Path = PROJECT_ROOT / ".cache" / "models"
    # Prompts prepended to queries / passages (the e5 family is trained with them).
    query_prompt: str = "query: "
    passage_prompt: str = "passage: "
    embed_batch_size: int = 16
    # Engine that runs the embedding model: auto | openvino | onnx | torch. auto = OpenVINO (bf16
    # where the CPU has it) if installed, else ONNX Runtime, else torch; torch on CUDA with a GPU.
    # The vectors are equivalent (cosine > 0.999), so a store stays valid across backends.
    embedding_backend: str = "auto"

    # Chunking, in characters: e5-small sees 512 tokens; ~1000 German characters stay well inside.
    chunk_chars: int = 900
    chunk_overlap_chars: int = 150

    top_k: int = 5
    # Candidates each retriever contributes before fusion.
    candidates: int = 30
    rrf_k: int = 60
    # Weight of the lexical leg when the question is in the articles' language (German) and
    # when it is not and no dictionary translates it: BM25 cannot match across languages, so it
    # is silenced there.
    lexical_weight_same_language: float = 1.0
    lexical_weight_cross_language: float = 0.0
    # An English question's BM25 query in German words (rag/retrieval.py translated_query), fused
    # with dense at this weight; chosen on the XQuAD dev questions.
    lexical_weight_translated: float = 0.3
    corpus_language: str = "de"

    # The no-LLM reader: "learned" (rag/reader.py, models in rag/data/reader/) or "baseline" (the
    # hand-tuned rules of rag/extractive.py it replaced; kept for side-by-side evaluation).
    reader: str = "learned"
    # German-English dictionary (Ding's text format) for English short answers word by word, for
    # matching an English question's words to the articles' (rag/glossary.py) and for the claim
    # check of LLM answers (rag/claim_features.py); `make` fetches it here. Without the file (or
    # with "none") English short answers keep the article's words, the reader reads English
    # questions less well (README, "without the dictionary") and claims are checked by the model
    # trained without it (rag/data/claims-without-dictionary).
    dictionary: Path = PROJECT_ROOT / ".cache" / "dictionary" / "de-en"
    # Baseline reader only: it abstains when the best passage's cosine similarity to the question is below
    # min_relevance, or the best sentence's score (cosine + word overlap, see extractive.score)
    # is below min_sentence_relevance. (Calibrated on the seed gold set; the learned reader's
    # threshold is chosen on the XQuAD dev split instead.)
    min_relevance: float = 0.75
    min_sentence_relevance: float = 0.81
    max_question_chars: int = 2000
    max_file_bytes: int = 5_000_000

    # --- Replicas sharing one Chroma server (docs/deploy.md). Each process derives its BM25 index
    # from Chroma and follows the change log every writer appends to (rag/changes.py).
    # Seconds between two checks of the change log (made before a search); 0 = before every search.
    lexical_refresh_seconds: float = 1.0
    # Each check re-reads this many seconds of the log, so writers' clocks may disagree this much.
    changelog_overlap_seconds: float = 300.0
    # Log entries older than this are deleted; a replica idle longer re-derives its index from Chroma.
    changelog_retention_seconds: float = 86400.0

    # LLM (empty = extractive answers). "openai" = any OpenAI-compatible server, "llamacpp" = GGUF.
    llm: str = ""
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_model_path: str = ""
    llm_timeout: float = 60.0
    llm_retries: int = 1
    llm_max_tokens: int = 400
    llm_temperature: float = 0.1
    # Context window (tokens) of a local GGUF model; servers manage their own.
    llm_context_window: int = 4096
    # Chat: how much of the conversation (characters, newest turns first) a follow-up sees.
    llm_history_chars: int = 2000

    # --- many users (issue 10) ---
    # Seconds a second writer to the same store (another upload, a CLI ingest while the app runs)
    # waits for the first before giving up with a clear message.
    write_lock_wait: float = 300.0
    # Requests the web UI answers at once (questions, searches, article lists); writes run one at a time.
    ui_parallel_reads: int = 8
    # Web login: after login_max_failures wrong passwords from one address within login_window_s
    # seconds, that address gets HTTP 429 for login_block_s seconds.
    login_max_failures: int = 5
    login_window_s: float = 60.0
    login_block_s: float = 60.0

    # --- claim checks of LLM answers (issue 12; rag/verification.py, docs/llm.md) ---
    # A claim is supported when its e5 similarity to the best sentence window of a cited passage
    # reaches this (chosen on the XQuAD dev articles by `python -m rag eval claims`): for claims in
    # the articles' language, and for claims in the other one (similarities across languages run lower) ...
    claim_min_similarity: float = 0.8275
    claim_min_similarity_cross: float = 0.8025
    # ... and the window contains its numbers, months and names (transliteration-tolerant).
    claim_check_tokens: bool = True
    # Which check decides: "learned" (the model under rag/data/claims, trained on the XQuAD dev
    # articles by `python -m rag train-claims`; numbers and months must still agree) or
    # "similarity" (the two thresholds above and every checkable token).
    claim_check: str = "learned"

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        """Defaults, then RAG_* env vars, then explicit keyword overrides."""
        values = {}
        for f in dataclasses.fields(cls):
            raw = os.environ.get("RAG_" + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _coerce(f, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        s = cls(**values)
        s.store_dir = Path(s.store_dir)
        s.seeds_dir = Path(s.seeds_dir)
        s.model_cache = Path(s.model_cache)
        s.dictionary = Path(s.dictionary)
        return s


def _coerce(f: dataclasses.Field, raw: str):
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            return raw.strip().lower() in {"1", "true", "yes", "on"}
    except ValueError:
        raise ValueError(f"RAG_{f.name.upper()}={raw!r} is not a valid {kind}.") from None
    if kind == "Path":
        return Path(raw).expanduser()
    return raw
