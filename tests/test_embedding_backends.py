"""Embedding backends (rag/embedding.py, rag/model_export.py): OpenVINO and ONNX Runtime give the
torch vectors, the conversion is cached and published atomically, the backend setting is obeyed."""
from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from rag import model_export
from rag.embedding import Embedder, choose_backend, openvino_precision, resolve_model
from rag.ingest import prepare
from rag.loading import discover, read
from rag.results import RagError
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
# The seed gold questions: German and English questions about the seed news articles.
QUESTIONS = [json.loads(line)["question"] for name in ("seeds-dev.jsonl", "seeds-test.jsonl") for line in
             (ROOT / "eval" / "gold" / name).read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def embedders() -> dict[str, Embedder]:
    return {b: Embedder(Settings.from_env(embedding_backend=b)) for b in ("torch", "openvino", "onnx")}


@pytest.fixture(scope="module")
def news_chunks() -> list[str]:
    settings = Settings.from_env()
    files = discover([settings.seeds_dir])[0]
    texts = [c.embed_text for f in files for c in prepare(read(f, settings.max_file_bytes), settings)]
    # Short and long ones, so batches are padded; one text far beyond 512 tokens, so truncation counts.
    return texts[:40] + ["Kurz.", " ".join(texts)[:6000]]


@pytest.mark.parametrize("backend", ["openvino", "onnx"])
def test_vectors_match_torch(embedders, news_chunks, backend):
    torch_e, other = embedders["torch"], embedders[backend]
    assert other.backend == backend and other.dim == torch_e.dim == 384
    for kind, texts in (("passages", news_chunks), ("queries", QUESTIONS)):
        a = getattr(torch_e, kind)(texts)
        b = getattr(other, kind)(texts)
        assert b.dtype == np.float32 and b.shape == a.shape
        assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-4)
        cos = (a * b).sum(axis=1)
        assert cos.min() >= 0.999, f"{backend} {kind}: min cosine {cos.min():.5f} to torch"


@pytest.mark.parametrize("backend", ["openvino", "onnx"])
def test_same_tokens_as_sentence_transformers(embedders, news_chunks, backend):
    st_tok = embedders["torch"]._runner.model.tokenizer
    ours = embedders[backend]._runner.tokenizer
    texts = ["passage: " + t for t in news_chunks] + ["query: " + q for q in QUESTIONS]
    expected = st_tok(texts, truncation=True, max_length=512)["input_ids"]
    got = [e.ids for e in ours.encode_batch(texts)]
    assert got == expected
    assert max(map(len, got)) == 512   # the long text was cut where sentence-transformers cuts it


def test_vectors_do_not_depend_on_batching(embedders, news_chunks):
    """Padding and length sorting must not change a text's vector."""
    e = embedders["openvino"]
    together = e.passages(news_chunks)
    alone = np.vstack([e.passages([t]) for t in news_chunks[:6]])
    assert ((together[:6] * alone).sum(axis=1)).min() >= 0.9999


def test_store_embedded_with_torch_serves_other_backends(tmp_path, embedders):
    """A store built with torch answers the same under OpenVINO, and a sync there re-embeds nothing."""
    from rag import Assistant
    from rag.store import ChunkStore

    settings = Settings.from_env(store_dir=tmp_path / "store")
    torch_bot = Assistant(settings, embedders["torch"], ChunkStore(settings, embedders["torch"].name))
    torch_bot.ingest([settings.seeds_dir])
    n = torch_bot.store.count()
    ov_bot = Assistant(settings, embedders["openvino"], ChunkStore(settings, embedders["openvino"].name))
    report = ov_bot.ingest([settings.seeds_dir])
    assert report.chunks_added == 0 and len(report.unchanged) == len(discover([settings.seeds_dir])[0])
    assert ov_bot.store.count() == n
    for q in QUESTIONS:
        a = torch_bot.search(q, k=3, mode="dense")
        b = ov_bot.search(q, k=3, mode="dense")
        # Near-ties may swap places, but the best passage stays among the best and scores alike.
        assert a[0].chunk_id in [p.chunk_id for p in b], q
        assert abs(a[0].dense_score - b[0].dense_score) < 0.003, q


# --- backend selection ------------------------------------------------------------------------
def test_explicit_backends_are_obeyed(embedders):
    assert embedders["torch"].describe() == "torch fp32 (cpu)"
    assert embedders["onnx"].describe() == "onnx fp32 (cpu)"
    assert embedders["openvino"].precision == openvino_precision()


def test_auto_prefers_openvino_with_the_cpus_precision():
    import openvino as ov

    caps = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    choice = choose_backend(Settings.from_env(embedding_backend="auto"))
    assert choice.backend == "openvino"
    assert choice.precision == ("bf16" if "BF16" in caps else "fp32")
    assert choose_backend(Settings.from_env(embedding_backend=" OpenVINO ")).backend == "openvino"


def test_auto_falls_back_when_openvino_is_missing(monkeypatch):
    from rag import embedding

    monkeypatch.setattr(embedding, "_installed", lambda m: m != "openvino")
    assert choose_backend(Settings.from_env(embedding_backend="auto")).backend == "onnx"
    monkeypatch.setattr(embedding, "_installed", lambda m: False)
    assert choose_backend(Settings.from_env(embedding_backend="auto")).backend == "torch"
    with pytest.raises(RagError, match="needs the Python package 'onnxruntime'"):
        choose_backend(Settings.from_env(embedding_backend="onnx"))


@pytest.mark.parametrize("name", ["tensorflow", "open vino", "gpu"])
def test_unknown_backend_is_a_clear_sentence(name, monkeypatch):
    monkeypatch.setenv("RAG_EMBEDDING_BACKEND", name)
    with pytest.raises(RagError) as err:
        Embedder(Settings.from_env())
    msg = str(err.value)
    assert msg.startswith(f"RAG_EMBEDDING_BACKEND='{name}' is not a known embedding backend")
    assert "auto, openvino, onnx, torch" in msg


# --- the conversion cache ---------------------------------------------------------------------
def _source() -> str:
    return resolve_model(Settings.from_env())


def test_conversion_is_reused(embedders, tmp_path):
    settings = Settings.from_env()
    target = model_export.export_dir(_source(), settings, "openvino")
    before = {p.name: p.stat().st_mtime_ns for p in target.iterdir()}
    said = []
    assert model_export.ensure(_source(), settings, "openvino", progress=said.append) == target
    assert said == [] and {p.name: p.stat().st_mtime_ns for p in target.iterdir()} == before


def _linked_copy(settings: Settings, cache: Path, backend: str) -> Path:
    """The real converted model in another cache, by symlinks (no 100s of MB copied)."""
    real = model_export.export_dir(_source(), settings, backend)
    copy = model_export.export_dir(_source(), Settings.from_env(model_cache=cache), backend)
    copy.mkdir(parents=True)
    for f in real.iterdir():
        if f.name == model_export.META_NAME:
            shutil.copyfile(f, copy / f.name)
        else:
            (copy / f.name).symlink_to(f)
    return copy


def test_outdated_or_partial_conversion_is_not_trusted(embedders, tmp_path):
    settings = Settings.from_env()
    copy = _linked_copy(settings, tmp_path, "openvino")
    assert model_export.is_current(copy, _source(), "openvino")
    meta = json.loads((copy / "meta.json").read_text())
    (copy / "meta.json").write_text(json.dumps(dict(meta, source_fingerprint="another model")))
    assert not model_export.is_current(copy, _source(), "openvino")
    (copy / "meta.json").write_text(json.dumps(meta))
    (copy / model_export.OPENVINO_FILE).unlink()   # e.g. a hand-deleted file
    assert not model_export.is_current(copy, _source(), "openvino")
    (copy / "meta.json").unlink()
    assert not model_export.is_current(copy, _source(), "openvino")


def _fake_convert(calls: list, fail: bool = False, started: threading.Event | None = None):
    def convert(source, backend, out, adapters=None):
        calls.append(out)
        (out / "model.onnx").write_bytes(b"x" * 1000)
        (out / "tokenizer.json").write_text("{}")
        if started:
            started.set()
        threading.Event().wait(0.5)   # long enough for a second caller to arrive
        if fail:
            raise OSError(28, "No space left on device")
        (out / model_export.META_NAME).write_text(json.dumps({
            "format_version": model_export.FORMAT_VERSION, "backend": backend,
            "source_fingerprint": model_export._fingerprint(source, adapters),
            "engine_version": model_export._engine_version(backend)}))
    return convert


def test_concurrent_conversions_convert_once(tmp_path, monkeypatch):
    """Two starts at once: one converts, the other waits for it and uses its result."""
    calls: list = []
    monkeypatch.setattr(model_export, "_convert", _fake_convert(calls))
    settings = Settings.from_env(model_cache=tmp_path)
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        model_export.ensure(_source(), settings, "onnx"))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 2 and results[0] == results[1]
    assert model_export.is_current(results[0], _source(), "onnx")
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [results[0].name]


def test_failed_conversion_leaves_nothing_behind(tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(model_export, "_convert", _fake_convert(calls, fail=True))
    settings = Settings.from_env(model_cache=tmp_path)
    with pytest.raises(RagError, match="No space left on device"):
        model_export.ensure(_source(), settings, "onnx")
    assert [p for p in tmp_path.iterdir() if p.is_dir()] == []
    # A leftover of a killed conversion is cleared by the next one, which then succeeds.
    (tmp_path / ".multilingual-e5-small-onnx.partial-killed").mkdir()
    monkeypatch.setattr(model_export, "_convert", _fake_convert(calls))
    target = model_export.ensure(_source(), settings, "onnx")
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [target.name]


# --- the ingest pipeline ----------------------------------------------------------------------
def _prepare_threads() -> list[str]:
    """The ingest's own threads still alive (the prepare and the writer thread)."""
    return [t.name for t in threading.enumerate() if t.name in ("ingest-prepare", "ingest-write")]


def test_ingest_overlaps_preparing_with_embedding(make_assistant, tmp_path, monkeypatch):
    """Files are prepared while earlier ones are being embedded, and the result is what a plain
    one-file-after-another sync gives: every file, in order, with its problems reported."""
    from rag import ingest

    folder = tmp_path / "articles"
    shutil.copytree(ROOT / "seeds", folder)
    (folder / "zz_empty.txt").write_text("   \n", encoding="utf-8")
    monkeypatch.setattr(ingest, "_EMBED_WINDOW", 1)   # embed after every file
    prepared_during_embedding = []
    bot = make_assistant(seed=False)
    real_passages, real_prepare = bot.embedder.passages, ingest.prepare_document
    embedding = threading.Event()
    calls = {"prepare": 0}

    def passages(texts, **kw):
        embedding.set()
        try:
            threading.Event().wait(0.3)   # an embedding that takes a while
            return real_passages(texts, **kw)
        finally:
            embedding.clear()

    def prepare(doc, settings):
        calls["prepare"] += 1
        threading.Event().wait(0.1)   # so that the first file's embedding starts before the last is prepared
        if embedding.is_set():
            prepared_during_embedding.append(doc.path)
        return real_prepare(doc, settings)

    monkeypatch.setattr(bot.embedder, "passages", passages)
    monkeypatch.setattr(ingest, "prepare_document", prepare)
    seen = []
    report = bot.ingest([folder], progress=lambda d, t, m: seen.append((d, t, m)))
    assert len(report.added) == 5 and [p.path.endswith("zz_empty.txt") for p in report.failed] == [True]
    assert [d for d, _, _ in seen] == [1, 2, 3, 4, 5, 6] and seen[-1][2] == "zz_empty.txt"
    assert calls["prepare"] == 5 and prepared_during_embedding   # overlap happened
    assert bot.store.count() == report.chunks_added and not _prepare_threads()


def test_ingest_errors_stop_the_prepare_thread(make_assistant, tmp_path, monkeypatch):
    from rag import ingest

    bot = make_assistant(seed=False)
    monkeypatch.setattr(ingest, "_EMBED_WINDOW", 1)

    def broken_prepare(doc, settings):
        raise ValueError("a cleaning rule is broken")

    monkeypatch.setattr(ingest, "prepare_document", broken_prepare)
    with pytest.raises(ValueError, match="cleaning rule"):
        bot.ingest([ROOT / "seeds"])
    assert not _prepare_threads()

    monkeypatch.undo()
    monkeypatch.setattr(ingest, "_EMBED_WINDOW", 1)

    def full_disk(*a, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bot.store, "upsert", full_disk)
    with pytest.raises(OSError):
        bot.ingest([ROOT / "seeds"])
    assert not _prepare_threads()


def test_info_shows_backend_and_precision(tmp_path, capsys):
    from rag.cli import main

    assert main(["info", "--store", str(tmp_path / "store"), "--no-seed", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["embedding_backend"] == "openvino"
    assert info["embedding_precision"] == openvino_precision()
