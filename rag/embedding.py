"""The embedding model: offline multilingual-e5-small by default, any sentence-transformers model
by name or path otherwise, run by one of three engines (settings.embedding_backend):

* openvino - the model converted once to OpenVINO IR, bf16 inference where the CPU supports it
  (about five times torch's throughput on this project's CPUs, cosine > 0.9999 to torch);
* onnx - the model exported once to ONNX and run by ONNX Runtime in fp32;
* torch - sentence-transformers itself (CUDA where a GPU is present).

"auto" takes the first of openvino, onnx, torch that is installed (torch on CUDA when a GPU is
present). All three tokenize, prompt, pool (mean over the attention mask) and normalise the same
way, so their vectors are interchangeable: a store embedded by one backend is valid for another.
The conversion (rag/model_export.py) happens once, offline, into the model cache."""
from __future__ import annotations

import logging
import os
import queue
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .results import RagError
from .settings import Settings

DEFAULT_MODEL = "e5-small"
BACKENDS = ("auto", "openvino", "onnx", "torch")

log = logging.getLogger(__name__)


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


def span_model_path(settings: Settings, progress=None) -> str:
    """The local e5-small the reader's span head adapts (rag/span_head.py), whatever model the
    store embeds with: the head's low-rank updates are shaped for e5-small's layers."""
    return resolve_model(replace(settings, embedding_model=DEFAULT_MODEL), progress)


# --- choosing the engine ----------------------------------------------------------------------
@dataclass(frozen=True)
class BackendChoice:
    backend: str     # openvino | onnx | torch
    precision: str   # bf16 | fp32
    device: str      # cpu | cuda


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _has_gpu() -> bool:
    # Importing torch costs seconds and hundreds of MB; only a machine with an NVIDIA driver can
    # have CUDA at all, so torch is asked only there.
    if not Path("/proc/driver/nvidia/version").exists():
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:   # a broken CUDA install must not stop the CPU path
        return False


def openvino_precision() -> str:
    """bf16 where the CPU computes it natively (AVX512-BF16 / AMX), else fp32."""
    import openvino as ov

    try:
        caps = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:   # an unknown device property is not worth failing the start for
        return "fp32"
    return "bf16" if "BF16" in {str(c).upper() for c in caps} else "fp32"


def choose_backend(settings: Settings) -> BackendChoice:
    """The engine settings.embedding_backend asks for; a clear RagError when it cannot be had."""
    wanted = (settings.embedding_backend or "auto").strip().lower()
    if wanted not in BACKENDS:
        raise RagError(f"RAG_EMBEDDING_BACKEND={settings.embedding_backend!r} is not a known embedding "
                       f"backend; use one of {', '.join(BACKENDS)}.")
    if wanted == "auto":
        if _has_gpu():
            return BackendChoice("torch", "fp32", "cuda")
        wanted = next((b for b, m in (("openvino", "openvino"), ("onnx", "onnxruntime"))
                       if _installed(m)), "torch")
    elif wanted != "torch" and not _installed({"openvino": "openvino", "onnx": "onnxruntime"}[wanted]):
        package = {"openvino": "openvino", "onnx": "onnxruntime"}[wanted]
        raise RagError(f"The embedding backend '{wanted}' needs the Python package '{package}', which is "
                       f"not installed; install requirements.txt or set RAG_EMBEDDING_BACKEND=auto.")
    if wanted == "openvino":
        return BackendChoice("openvino", openvino_precision(), "cpu")
    if wanted == "onnx":
        return BackendChoice("onnx", "fp32", "cpu")
    return BackendChoice("torch", "fp32", "cuda" if _has_gpu() else "cpu")


# --- the engines ------------------------------------------------------------------------------
class _TorchRunner:
    def __init__(self, path: str, device: str):
        import transformers
        from sentence_transformers import SentenceTransformer

        # Loading bars and deprecation chatter would drown the answer in CLI output.
        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        try:
            self.model = SentenceTransformer(path, device=device, local_files_only=True)
        except OSError as e:
            raise RagError(f"The embedding model '{path}' could not be loaded offline: {e}") from None
        self.dim = self.model.get_embedding_dimension()

    def encode(self, texts: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
        # sentence-transformers sorts by length itself.
        return self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=show_progress).astype(np.float32)


class _ExportedRunner:
    """An exported encoder (OpenVINO IR or ONNX) with the sentence-transformers pre- and
    post-processing: same tokenizer and max length, mean pooling over the mask, L2 norm."""

    def __init__(self, export_dir: Path, choice: BackendChoice):
        from tokenizers import Tokenizer

        from . import model_export

        meta = model_export.read_meta(export_dir)
        self.dim = int(meta["dim"])
        self.tokenizer = Tokenizer.from_file(str(export_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(int(meta["max_seq_length"]))
        self.pad_id = int(meta["pad_token_id"])
        self._infer = exported_infer(export_dir, choice)

    def encode(self, texts: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
        ids = [e.ids for e in self.tokenizer.encode_batch(texts)]
        # Longest first, so that each batch pads to nearly its own length and a too-large batch
        # fails at once rather than at the end.
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            input_ids, mask = pad_batch([ids[i] for i in batch], self.pad_id)
            hidden = self._infer(input_ids, mask)
            out[batch] = _mean_pool_normalize(hidden, mask)
        return out


def pad_batch(seqs: list[list[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Token id rows padded to the longest with `pad_id`, and their attention mask (int64)."""
    width = max(len(s) for s in seqs)
    input_ids = np.full((len(seqs), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for row, s in enumerate(seqs):
        input_ids[row, :len(s)] = s
        mask[row, :len(s)] = 1
    return input_ids, mask


def _mean_pool_normalize(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' mean pooling (prompt tokens included) and Normalize, in fp32."""
    m = mask[:, :, None].astype(np.float32)
    summed = (hidden.astype(np.float32) * m).sum(axis=1)
    pooled = summed / np.clip(m.sum(axis=1), 1e-9, None)
    return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


def exported_infer(export_dir: Path, choice: BackendChoice):
    """(input ids, mask) -> last hidden state (float32) of a converted model (model_export)."""
    if choice.backend == "openvino":
        return _openvino_infer(export_dir, choice.precision)
    return _onnx_infer(export_dir)


def _openvino_infer(export_dir: Path, precision: str):
    import openvino as ov

    from . import model_export

    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
              # One stream over all cores: a single question is answered as fast as possible,
              # and ingest batches are large enough to keep the cores busy anyway.
              "PERFORMANCE_HINT": "LATENCY"}
    compiled = core.compile_model(str(export_dir / model_export.OPENVINO_FILE), "CPU", config)
    # An infer request must not be used by two threads at once; the app asks in parallel, so
    # each call borrows one from a pool (creating one when all are busy).
    pool: queue.SimpleQueue = queue.SimpleQueue()

    def infer(input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        try:
            request = pool.get_nowait()
        except queue.Empty:
            request = compiled.create_infer_request()
        try:
            result = request.infer({"input_ids": input_ids, "attention_mask": mask})
            return np.array(result[compiled.output(0)], dtype=np.float32)   # copy: the buffer is reused
        finally:
            pool.put(request)

    return infer


def _onnx_infer(export_dir: Path):
    import onnxruntime as ort

    from . import model_export

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(export_dir / model_export.ONNX_FILE), options,
                                   providers=["CPUExecutionProvider"])

    def infer(input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        # InferenceSession.run is thread-safe.
        return session.run(None, {"input_ids": input_ids, "attention_mask": mask})[0]

    return infer


class Embedder:
    """queries() / passages() -> L2-normalised float32 rows; dim; name (the store is keyed on it,
    and it does not change with the backend because the vectors do not)."""

    def __init__(self, settings: Settings, progress=None):
        _offline_env()
        self.settings = settings
        self.name = settings.embedding_model
        choice = choose_backend(settings)
        path = resolve_model(settings, progress)
        if choice.backend == "torch":
            self._runner = _TorchRunner(path, choice.device)
        else:
            from . import model_export

            say = progress or (lambda m: print(m, file=sys.stderr))
            export_dir = model_export.ensure(path, settings, choice.backend, progress=say)
            self._runner = _ExportedRunner(export_dir, choice)
        self.backend, self.precision, self.device = choice.backend, choice.precision, choice.device
        self.dim = self._runner.dim
        log.info("embedding model %s on %s (%s, %s)", self.name, self.backend, self.precision, self.device)

    def describe(self) -> str:
        """For info lines and reports, e.g. 'openvino bf16 (cpu)'."""
        return f"{self.backend} {self.precision} ({self.device})"

    def queries(self, texts: list[str]) -> np.ndarray:
        return self._encode([self.settings.query_prompt + t for t in texts])

    def passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        return self._encode([self.settings.passage_prompt + t for t in texts], show_progress)

    def _encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._runner.encode(texts, self.settings.embed_batch_size, show_progress)
