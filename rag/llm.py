"""LLM backends, built from Settings, and one way to stream from them under a hard deadline.

    llm=""/"none"   no LLM: extractive answers
    llm="openai"    any OpenAI-compatible chat server (Ollama, vLLM, llama.cpp's server, LM Studio,
                    OpenAI) through llama-index's OpenAILike
    llm="llamacpp"  a local GGUF file through llama-cpp-python (requirements-llamacpp.txt)

Every failure surfaces as `LLMError` with a `kind` the answering stage turns into a sentence for
the user; nothing here lets a hung server block a caller past its deadline.
"""
from __future__ import annotations

import json
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from .prompts import Message
from .settings import Settings

NONE_VALUES = {"", "none", "off", "extractive"}
KINDS = ("openai", "llamacpp")


class LLMError(Exception):
    """kind: config | unreachable | timeout | http | context | malformed | failed."""

    def __init__(self, kind: str, detail: str = "", status: int | None = None):
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind, self.detail, self.status = kind, detail, status


@dataclass
class Backend:
    llm: Any              # a llama-index LLM
    kind: str             # "openai" | "llamacpp"
    model: str            # what Answer.mode names: "llm:<model>"
    timeout: float        # seconds one answer may take, retries included
    max_tokens: int
    temperature: float
    url: str = ""
    context_window: int = 4096   # tokens the model sees: the server's own figure where it says

    @property
    def label(self) -> str:
        return f"llm:{self.model}"

    def with_params(self, max_tokens: int | None = None, temperature: float | None = None):
        """The LLM with other generation limits (a follow-up rewrite needs few tokens). OpenAILike
        lets its own max_tokens win over a per-call one, so this is a copy, not a keyword."""
        if max_tokens is None and temperature is None:
            return self.llm
        update = {k: v for k, v in (("max_tokens", max_tokens), ("temperature", temperature)) if v is not None}
        return self.llm.model_copy(update=update)


def enabled(settings: Settings) -> bool:
    return (settings.llm or "").strip().lower() not in NONE_VALUES


def check(settings: Settings) -> None:
    """Raise LLMError('config') when the LLM settings cannot work, without contacting anything."""
    kind = (settings.llm or "").strip().lower()
    if kind in NONE_VALUES:
        return
    if kind not in KINDS:
        raise LLMError("config", f"unknown LLM backend '{settings.llm}' (use openai, llamacpp or none).")
    if settings.llm_timeout <= 0:
        raise LLMError("config", "the LLM timeout must be a positive number of seconds.")
    if kind == "openai":
        url = (settings.llm_base_url or "").strip()
        if not url:
            raise LLMError("config", "the OpenAI-compatible backend needs a base URL "
                                     "(RAG_LLM_BASE_URL or --llm-url), e.g. http://127.0.0.1:11434/v1.")
        if not url.startswith(("http://", "https://")):
            raise LLMError("config", f"the LLM base URL '{url}' must start with http:// or https://.")
    else:
        path = (settings.llm_model_path or "").strip()
        if not path:
            raise LLMError("config", "the llamacpp backend needs a GGUF file (RAG_LLM_MODEL_PATH or "
                                     "--llm-model-path).")
        if not Path(path).expanduser().is_file():
            raise LLMError("config", f"the model file '{path}' does not exist.")
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            raise LLMError("config", "llama-cpp-python is not installed "
                                     "(pip install -r requirements-llamacpp.txt).") from None


def build(settings: Settings) -> Backend | None:
    """The configured backend, or None for extractive answers. Raises LLMError('config'), or
    ('unreachable'/...) when a server has to be asked for its model name and cannot be."""
    check(settings)
    kind = (settings.llm or "").strip().lower()
    if kind in NONE_VALUES:
        return None
    common = dict(timeout=float(settings.llm_timeout), max_tokens=int(settings.llm_max_tokens),
                  temperature=float(settings.llm_temperature))
    if kind == "openai":
        from llama_index.llms.openai_like import OpenAILike

        url = settings.llm_base_url.strip().rstrip("/")
        key = settings.llm_api_key or os.environ.get("OPENAI_API_KEY") or "no-key"
        model = settings.llm_model.strip() or served_model(url, key, min(10.0, settings.llm_timeout))
        llm = OpenAILike(model=model, api_base=url, api_key=key, timeout=float(settings.llm_timeout),
                         max_retries=max(0, int(settings.llm_retries)), is_chat_model=True,
                         is_function_calling_model=False, context_window=settings.llm_context_window,
                         max_tokens=int(settings.llm_max_tokens),
                         temperature=float(settings.llm_temperature))
        window = server_context_window(url, key, model, min(5.0, settings.llm_timeout))
        return Backend(llm, "openai", model, url=url, **common,
                       context_window=window or int(settings.llm_context_window))
    path = str(Path(settings.llm_model_path).expanduser())
    llm = LlamaCppChat(model_path=path, n_ctx=int(settings.llm_context_window),
                       max_tokens=int(settings.llm_max_tokens),
                       temperature=float(settings.llm_temperature))
    return Backend(llm, "llamacpp", settings.llm_model.strip() or Path(path).stem, **common,
                   context_window=int(settings.llm_context_window))


# Where OpenAI-compatible servers say how long a context they run with: llama.cpp's server in
# /props, vLLM (max_model_len) and LM Studio/OpenRouter-style listings (context_length) per model.
_WINDOW_KEYS = ("max_model_len", "context_length", "context_window", "n_ctx")


def server_context_window(url: str, key: str, model: str, timeout: float) -> int | None:
    """The context window the server reports for `model`, or None when it says nothing (then
    the llm_context_window setting applies). Never raises: this is a refinement, not a check."""
    import urllib.request

    def get(address: str):
        req = urllib.request.Request(address, headers={"Authorization": f"Bearer {key}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read(1_000_000).decode("utf-8", "replace"))
        except Exception:   # noqa: BLE001 - any failure means "not reported"
            return None

    props = get(url.rsplit("/v1", 1)[0] + "/props")
    if isinstance(props, dict):
        n = (props.get("default_generation_settings") or {}).get("n_ctx") or props.get("n_ctx")
        if isinstance(n, int) and n > 0:
            return n
    listing = get(url + "/models")
    entries = listing.get("data", []) if isinstance(listing, dict) else []
    for entry in sorted((e for e in entries if isinstance(e, dict)), key=lambda e: e.get("id") != model):
        for k in _WINDOW_KEYS:
            n = entry.get(k)
            if isinstance(n, int) and n > 0:
                return n
    return None


def served_model(url: str, key: str, timeout: float) -> str:
    """The first model an OpenAI-compatible server lists, for when none was configured."""
    import openai

    try:
        client = openai.OpenAI(base_url=url, api_key=key, timeout=timeout, max_retries=0)
        models = [m.id for m in client.models.list()]
    except Exception as e:  # noqa: BLE001 - every failure becomes a user-facing kind
        raise classify(e) from None
    if not models:
        raise LLMError("config", f"the server at {url} lists no models; set RAG_LLM_MODEL.")
    return models[0]


# --- a local GGUF model as a llama-index LLM --------------------------------------------------
def _llamacpp_class():
    from llama_index.core.base.llms.types import (ChatMessage, ChatResponse, CompletionResponse,
                                                  LLMMetadata, MessageRole)
    from llama_index.core.bridge.pydantic import Field, PrivateAttr
    from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
    from llama_index.core.llms.custom import CustomLLM

    class LlamaCppChat(CustomLLM):
        """llama-cpp-python behind llama-index's LLM interface, using the chat template stored in
        the GGUF file. One generation at a time: a Llama object is not thread-safe."""

        model_path: str = Field(description="GGUF file")
        n_ctx: int = Field(default=4096)
        max_tokens: int = Field(default=400)
        temperature: float = Field(default=0.1)
        n_threads: int | None = Field(default=None)
        # Shared by copies made for other generation limits: one loaded model, one lock.
        _shared: dict = PrivateAttr(default_factory=lambda: {"llama": None, "lock": threading.Lock()})

        @classmethod
        def class_name(cls) -> str:
            return "llamacpp_chat"

        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(context_window=self.n_ctx, num_output=self.max_tokens,
                               is_chat_model=True, model_name=Path(self.model_path).stem)

        @property
        def _lock(self):
            return self._shared["lock"]

        def _model(self):
            """Called with the lock held."""
            if self._shared["llama"] is None:
                from llama_cpp import Llama

                try:
                    self._shared["llama"] = Llama(model_path=self.model_path, n_ctx=self.n_ctx,
                                                  n_threads=self.n_threads, verbose=False)
                except Exception as e:  # noqa: BLE001
                    raise LLMError("config", f"the model file '{self.model_path}' could not be "
                                             f"loaded ({e}).") from None
            return self._shared["llama"]

        def _params(self, kwargs: dict) -> dict:
            return dict(max_tokens=kwargs.get("max_tokens", self.max_tokens),
                        temperature=kwargs.get("temperature", self.temperature))

        @llm_chat_callback()
        def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
            text, last = "", None
            for r in self.stream_chat(messages, **kwargs):
                text, last = r.message.content or "", r
            return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text),
                                raw=last.raw if last else None)

        @llm_chat_callback()
        def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any):
            dicts = [{"role": m.role.value, "content": m.content or ""} for m in messages]
            params = self._params(kwargs)

            def gen():
                with self._lock:
                    text = ""
                    for chunk in self._model().create_chat_completion(dicts, stream=True, **params):
                        choice = (chunk.get("choices") or [{}])[0]
                        delta = (choice.get("delta") or {}).get("content") or ""
                        text += delta
                        yield ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text),
                                           delta=delta, raw=chunk)

            return gen()

        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
            with self._lock:
                out = self._model().create_completion(prompt, **self._params(kwargs))
            return CompletionResponse(text=out["choices"][0]["text"], raw=out)

        @llm_completion_callback()
        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any):
            params = self._params(kwargs)

            def gen():
                with self._lock:
                    text = ""
                    for chunk in self._model().create_completion(prompt, stream=True, **params):
                        delta = chunk["choices"][0]["text"]
                        text += delta
                        yield CompletionResponse(text=text, delta=delta, raw=chunk)

            return gen()

    return LlamaCppChat


def LlamaCppChat(**kwargs):  # noqa: N802 - a class, built on first use so importing rag stays light
    global _LLAMACPP_CLASS
    if _LLAMACPP_CLASS is None:
        _LLAMACPP_CLASS = _llamacpp_class()
    return _LLAMACPP_CLASS(**kwargs)


_LLAMACPP_CLASS = None


# --- streaming under a deadline -------------------------------------------------------------
def _finish_reason(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, dict):
        choices = raw.get("choices") or []
        return (choices[0] or {}).get("finish_reason") if choices else None
    choices = getattr(raw, "choices", None) or []
    return getattr(choices[0], "finish_reason", None) if choices else None


def _context_error(text: str) -> bool:
    t = text.lower()
    return any(s in t for s in ("context length", "context_length", "context window", "maximum context",
                                "too many tokens", "exceed", "too long", "prompt is too long",
                                "reduce the length"))


def classify(exc: BaseException, timeout: float | None = None) -> LLMError:
    """Map anything a backend raised to an LLMError kind."""
    if isinstance(exc, LLMError):
        return exc
    try:
        import httpx
        import openai
    except ImportError:  # pragma: no cover - both ship with llama-index-llms-openai
        httpx = openai = None
    if openai is not None:
        if isinstance(exc, openai.APITimeoutError):
            return LLMError("timeout", str(exc))
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            if httpx is not None and isinstance(cause, (httpx.RemoteProtocolError, httpx.ReadError)):
                return LLMError("malformed", str(cause))
            return LLMError("unreachable", str(exc))
        if isinstance(exc, openai.APIStatusError):
            body = json.dumps(exc.body) if exc.body is not None else ""
            if exc.status_code in (400, 413, 422) and _context_error(f"{exc.message} {body}"):
                return LLMError("context", exc.message, exc.status_code)
            return LLMError("http", exc.message, exc.status_code)
        if isinstance(exc, openai.APIError):
            # An error event inside a stream, e.g. the server ran out of context mid-way.
            if _context_error(str(exc)):
                return LLMError("context", str(exc))
            return LLMError("malformed", str(exc))
    if httpx is not None:
        if isinstance(exc, httpx.TimeoutException):
            return LLMError("timeout", str(exc))
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.DecodingError)):
            return LLMError("malformed", str(exc))
        if isinstance(exc, httpx.ConnectError):
            return LLMError("unreachable", str(exc))
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError, KeyError, IndexError, TypeError,
                        AttributeError)):
        return LLMError("malformed", f"{type(exc).__name__}: {exc}")
    if isinstance(exc, ValueError) and _context_error(str(exc)):
        return LLMError("context", str(exc))    # llama-cpp-python: "Requested tokens exceed ..."
    if isinstance(exc, (ConnectionError, OSError)):
        return LLMError("unreachable", str(exc))
    return LLMError("failed", f"{type(exc).__name__}: {exc}")


def _chat_messages(messages: list[Message]):
    from llama_index.core.base.llms.types import ChatMessage, MessageRole

    roles = {"system": MessageRole.SYSTEM, "user": MessageRole.USER, "assistant": MessageRole.ASSISTANT}
    return [ChatMessage(role=roles[m.role], content=m.content) for m in messages]


def stream_text(backend: Backend, messages: list[Message], deadline: float,
                max_tokens: int | None = None, temperature: float | None = None) -> Iterator[str]:
    """Text deltas of the backend's answer. Raises LLMError; never blocks past `deadline`
    (time.monotonic()). The backend runs in a worker thread: a server that stops sending, or
    trickles bytes forever, cannot hold the caller, and the abandoned worker ends at its next
    chunk or at the client's own read timeout."""
    chat = _chat_messages(messages)
    llm = backend.with_params(max_tokens, temperature)
    out: queue.Queue = queue.Queue()
    stop = threading.Event()

    def work() -> None:
        finished = False
        gen = None
        try:
            gen = llm.stream_chat(chat)
            for r in gen:
                if stop.is_set():
                    return
                if _finish_reason(r.raw):
                    finished = True
                if r.delta:
                    out.put(("delta", r.delta))
            out.put(("end", finished))
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            out.put(("error", e))
        finally:
            if gen is not None and hasattr(gen, "close"):
                try:
                    gen.close()
                except Exception:  # noqa: BLE001 - closing a broken stream may fail again
                    pass

    threading.Thread(target=work, name="llm-stream", daemon=True).start()
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LLMError("timeout", "deadline reached")
            try:
                what, value = out.get(timeout=remaining)
            except queue.Empty:
                raise LLMError("timeout", "deadline reached") from None
            if what == "delta":
                yield value
            elif what == "error":
                raise classify(value)
            else:
                if not value:
                    # OpenAI-compatible servers end a complete answer with a finish_reason; a
                    # stream without one was cut off.
                    raise LLMError("malformed", "the stream ended without a finish reason")
                return
    finally:
        stop.set()


def chat_once(backend: Backend, messages: list[Message], deadline: float) -> str:
    """One non-streaming request under the deadline. Servers that can only break off a stream
    (llama-cpp-python's, when the prompt overflows its context) say what went wrong here."""
    chat = _chat_messages(messages)
    out: queue.Queue = queue.Queue()
    llm = backend.llm
    if backend.kind == "openai":
        # A new connection pool: the one the broken stream used may hold a dead connection.
        llm = llm.model_copy()
        llm._client = None

    def work() -> None:
        try:
            response = llm.chat(chat)
            out.put(("ok", response.message.content or ""))
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            out.put(("error", e))

    threading.Thread(target=work, name="llm-chat", daemon=True).start()
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise LLMError("timeout", "deadline reached")
    try:
        what, value = out.get(timeout=remaining)
    except queue.Empty:
        raise LLMError("timeout", "deadline reached") from None
    if what == "error":
        raise classify(value)
    return value


def complete_text(backend: Backend, messages: list[Message], deadline: float,
                  max_tokens: int | None = None, temperature: float | None = None) -> str:
    """The whole answer as one string, under the same deadline rules."""
    return "".join(stream_text(backend, messages, deadline, max_tokens, temperature))
