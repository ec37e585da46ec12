"""Convert the sentence-transformers embedding model once, offline, for OpenVINO or ONNX Runtime.

The converted model lives in the model cache beside its source (e.g.
.cache/models/multilingual-e5-small-openvino/) with the tokenizer sentence-transformers uses and a
meta.json (max length, dimension, pad id, source fingerprint) written last. It is built in a
temporary directory and renamed into place, under a file lock: a crash mid-conversion leaves no
half model, and two processes starting at once convert only once. A source model that changes
(its fingerprint) or an engine upgrade makes the next start convert again."""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from .results import RagError
from .settings import Settings

FORMAT_VERSION = 1
META_NAME = "meta.json"
OPENVINO_FILE = "model.xml"
ONNX_FILE = "model.onnx"
ONNX_OPSET = 17

log = logging.getLogger(__name__)


def export_dir(source: str, settings: Settings, backend: str, adapters: Path | None = None) -> Path:
    """Where the converted copy of `source` (a local model dir or a model name) lives; with
    `adapters` (a span head file, rag/span_head.py), the copy with its updates merged in."""
    p = Path(source)
    base = p.name if p.is_dir() else re.sub(r"[^A-Za-z0-9._-]+", "_", source).strip("_")
    if adapters is not None:
        base += f"-{Path(adapters).stem}"
    return Path(settings.model_cache) / f"{base}-{backend}"


def read_meta(target: Path) -> dict:
    return json.loads((Path(target) / META_NAME).read_text(encoding="utf-8"))


def is_current(target: Path, source: str, backend: str, adapters: Path | None = None) -> bool:
    """True if target holds a finished conversion of this very source for this engine version."""
    try:
        meta = read_meta(target)
    except (OSError, ValueError):
        return False
    model_file = OPENVINO_FILE if backend == "openvino" else ONNX_FILE
    return (meta.get("format_version") == FORMAT_VERSION and meta.get("backend") == backend
            and meta.get("source_fingerprint") == _fingerprint(source, adapters)
            and meta.get("engine_version") == _engine_version(backend)
            and (Path(target) / model_file).is_file() and (Path(target) / "tokenizer.json").is_file())


def ensure(source: str, settings: Settings, backend: str, progress: Callable[[str], None] | None = None,
           adapters: Path | None = None) -> Path:
    """The converted model's directory, converting first if needed. `adapters`: a span head
    file whose low-rank updates are merged into the model before converting (the reader's
    encoder; its output is the last hidden state, no pooling)."""
    target = export_dir(source, settings, backend, adapters)
    if is_current(target, source, backend, adapters):
        return target
    say = progress or (lambda _m: None)
    what = "the embedding model" if adapters is None else "the reader's encoder"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _lock(target):
            if is_current(target, source, backend, adapters):   # converted while we waited
                return target
            # Under the lock, any partial directory belongs to a conversion that was killed.
            for stale in target.parent.glob(f".{target.name}.partial-*"):
                shutil.rmtree(stale, ignore_errors=True)
            say(f"Converting {what} for {backend} (once) ...")
            started = time.monotonic()
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
            try:
                _convert(source, backend, tmp, adapters)
                _publish(tmp, target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except OSError as e:
        raise RagError(f"Writing the converted {what} to '{target}' failed: {e}.") from None
    except (RagError, KeyboardInterrupt):
        raise
    except Exception as e:   # an exporter failure on an unusual model: say what to do instead
        raise RagError(f"Converting {what} for {backend} failed ({type(e).__name__}: {e}); "
                       f"set RAG_EMBEDDING_BACKEND=torch to run it unconverted.") from None
    say(f"Converted {what} for {backend} in {time.monotonic() - started:.0f} s ({target}).")
    return target


# --- conversion -------------------------------------------------------------------------------
def _convert(source: str, backend: str, out: Path, adapters: Path | None = None) -> None:
    import torch

    model, tokenizer, max_len, pad_id = _load_encoder(source) if adapters is None else _load_adapted(source, adapters)
    # A short and a long example: the traced graph must not specialise on either length.
    example = tokenizer(["query: Wer hat gewonnen?", "passage: " + "Die Wahl in Wien. " * 20],
                        padding=True, return_tensors="pt")
    inputs = (example["input_ids"], example["attention_mask"])
    wrapper = _Encoder(model).eval()
    with torch.inference_mode():
        dim = int(wrapper(*inputs).shape[-1])
    _to_onnx(wrapper, inputs, out / ONNX_FILE)
    if backend == "openvino":
        # The reader's copy keeps float16 weights: 0.45 GB less peak memory than float32 (`rag
        # ask`), and its answers on the test split differ from torch's by about one question in
        # 150 (German F1 51.9 vs 52.5; docs/eval-report/answers.md).
        _onnx_to_openvino(out / ONNX_FILE, out / OPENVINO_FILE, compress=adapters is not None)
        (out / ONNX_FILE).unlink()
    # The exact tokenizer transformers built for sentence-transformers, as tokenizers JSON.
    tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
    meta = {"format_version": FORMAT_VERSION, "backend": backend, "source": source,
            "source_fingerprint": _fingerprint(source, adapters), "engine_version": _engine_version(backend),
            "dim": dim, "max_seq_length": max_len, "pad_token_id": pad_id,
            "pooling": "mean" if adapters is None else "none", "normalize": adapters is None}
    # Last: only a directory with everything above in it is accepted.
    (out / META_NAME).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    _fsync_tree(out)


def _load_encoder(source: str):
    """The transformer inside the sentence-transformers model, checked to be mean-pooled and
    normalised (what the exported runner reproduces)."""
    import transformers
    from sentence_transformers import SentenceTransformer
    # sentence_transformers.models is a deprecated alias of this module (same classes).
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

    transformers.utils.logging.set_verbosity_error()
    # Eager attention traces into plain matmuls that both exporters handle.
    st = SentenceTransformer(source, device="cpu", local_files_only=True,
                             model_kwargs={"attn_implementation": "eager"})
    modules = list(st)
    pooling = next((m for m in modules if isinstance(m, Pooling)), None)
    mode = getattr(pooling, "pooling_mode", None)
    if (pooling is None or mode not in ("mean", ("mean",), ["mean"]) or not getattr(pooling, "include_prompt", True)
            or len(modules) != 3 or not isinstance(modules[2], Normalize)):
        raise RagError(f"The embedding model '{source}' is not a mean-pooled, normalised "
                       f"sentence-transformers model; use RAG_EMBEDDING_BACKEND=torch for it.")
    tokenizer = st.tokenizer
    return modules[0].auto_model, tokenizer, int(st.max_seq_length), int(tokenizer.pad_token_id)


def _load_adapted(source: str, adapters: Path):
    """e5 (transformers) with a span head's low-rank updates merged into its weights."""
    import transformers
    from transformers import AutoModel, AutoTokenizer

    from . import span_head

    transformers.utils.logging.set_verbosity_error()
    model = AutoModel.from_pretrained(source, local_files_only=True, attn_implementation="eager")
    span_head.merge(model, span_head.SpanHead.load(adapters))
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    return model.eval(), tokenizer, span_head.MAX_LENGTH, int(tokenizer.pad_token_id)


class _Encoder:
    """last_hidden_state from (input_ids, attention_mask): pooling stays outside, in fp32 numpy."""

    def __new__(cls, model):
        import torch

        class Encoder(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask):
                return self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

        return Encoder(model)


def _to_onnx(wrapper, inputs, path: Path) -> None:
    import warnings

    import torch

    axes = {0: "batch", 1: "tokens"}
    with torch.inference_mode(), warnings.catch_warnings():
        # The tracer warns about shape checks in transformers' masking code; with the mask as
        # wide as the input they are constant, which the equivalence tests confirm.
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, inputs, str(path), input_names=["input_ids", "attention_mask"],
                          output_names=["last_hidden_state"], opset_version=ONNX_OPSET, dynamo=False,
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes})


def _onnx_to_openvino(onnx_path: Path, path: Path, compress: bool = False) -> None:
    # Reading the ONNX file (rather than ov.convert_model on the torch module) keeps one export
    # path for both engines and runs none of the conversion tool's telemetry.
    import openvino as ov

    model = ov.Core().read_model(str(onnx_path))
    # The embedding model keeps fp32 weights: the precision is chosen at compile time (bf16 hint
    # or fp32), and its vectors must match torch's.
    ov.save_model(model, str(path), compress_to_fp16=compress)


# --- cache bookkeeping ------------------------------------------------------------------------
def _fingerprint(source: str, adapters: Path | None = None) -> str:
    """Changes when the source model's files do (a rebuild, another model under the same name),
    or the adapters' content."""
    p = Path(source)
    extra = "" if adapters is None else "+" + hashlib.sha256(Path(adapters).read_bytes()).hexdigest()[:16]
    if not p.is_dir():
        return source + extra
    h = hashlib.sha256()
    for f in sorted(p.rglob("*")):
        if f.is_file() and not f.name.startswith("."):
            st = f.stat()
            h.update(f"{f.relative_to(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16] + extra


def _engine_version(backend: str) -> str:
    import importlib.metadata as md

    try:
        return md.version("openvino" if backend == "openvino" else "onnxruntime")
    except md.PackageNotFoundError:
        return ""


@contextmanager
def _lock(target: Path):
    with open(target.parent / f".{target.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)   # released when the file closes, also if the process dies
        yield


def _publish(tmp: Path, target: Path) -> None:
    """Rename the finished conversion into place; an outdated or broken one is moved aside first
    (a rename cannot replace a non-empty directory) and deleted afterwards."""
    tmp.chmod(0o755)
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.rename(target, old / "model")
    try:
        os.rename(tmp, target)
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _fsync_tree(path: Path) -> None:
    for f in path.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
