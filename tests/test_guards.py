"""Small pure checks: the login limiter's clock, junk-question detection, the load test's bounds."""
from __future__ import annotations

import pytest


def test_login_block_lasts_block_s_and_counts_only_recent_failures():
    from login_guard import LoginLimiter

    now = [1000.0]
    lim = LoginLimiter(max_failures=5, window_s=60, block_s=60, clock=lambda: now[0])
    for _ in range(4):
        lim.failed("10.0.0.1")
        now[0] += 20            # four failures spread over 80 s: never five within a minute
    assert lim.seconds_blocked("10.0.0.1") == 0
    for _ in range(5):
        lim.failed("10.0.0.1")
    assert lim.seconds_blocked("10.0.0.1") == 60
    assert lim.seconds_blocked("10.0.0.2") == 0
    now[0] += 59.5
    assert 0 < lim.seconds_blocked("10.0.0.1") <= 0.5
    now[0] += 0.5
    assert lim.seconds_blocked("10.0.0.1") == 0


@pytest.mark.parametrize("text", ["🤔🤔🤔", "?!", "1234 5678", '{"frage": "wer", "k": [1, 2]}', "[1, 2, 3]",
                                  "👍 ?"])
def test_junk_is_not_a_question(text):
    from rag.assistant import looks_like_question

    assert not looks_like_question(text)


@pytest.mark.parametrize("text", ["Wer ist der Sprecher des Kremls?", "Who is Peskov?", "Was kostet ein {Ticket}?",
                                  "[Eilmeldung] Was ist passiert?", "Что сказал Песков?", "普京说了什么?"])
def test_questions_are_questions(text):
    from rag.assistant import looks_like_question

    assert looks_like_question(text)


def test_junk_question_gets_please_ask_not_quotes(seeded):
    from rag import RagError

    for junk in ("😀😀😀", '{"query": "Kreml Sprecher", "top_k": 5}'):
        with pytest.raises(RagError, match="Please ask a question in words"):
            seeded.ask(junk)


def test_load_test_refuses_other_hosts():
    from rag import RagError
    from rag.evaluation.load import loopback_url

    assert loopback_url("http://127.0.0.1:7860/") == "http://127.0.0.1:7860"
    with pytest.raises(RagError, match="only runs against this machine"):
        loopback_url("http://example.org:7860")
