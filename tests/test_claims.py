"""Claim-level citation checks (rag/verification.py, rag/citations.py's claim splitting) and the
answers they shape, against the scripted OpenAI-compatible server on 127.0.0.1."""
from __future__ import annotations

import functools
import re

from rag import prompts
from rag.citations import rebuild, split_claims
from rag.checkable import agreement, fold
from rag.verification import Verifier
from scripted_llm import Reply, llm_bot as scripted_bot

Q_DE = "Wer hat Lawrow in Nordkorea empfangen?"
Q_EN = "Who received Lavrov in North Korea?"
KIM = "Kim Jong-un empfangen"               # in seed 003 only
WONSAN = "Küstenstadt Wŏnsan"               # in seed 003 only


# Claim checks embed every claim: a longer timeout, and no retry that would hide a failure.
llm_bot = functools.partial(scripted_bot, llm_timeout=20.0, llm_retries=0)


def sources_of(request: dict) -> list[str]:
    user = next(m["content"] for m in request["messages"] if m["role"] == "user")
    return re.findall(r"<source\b[^>]*>\n?(.*?)</source>", user, re.S)


def n_with(request: dict, needle: str) -> int:
    """The number of the source that contains `needle` (the test fails if none does)."""
    found = [n for n, s in enumerate(sources_of(request), 1) if needle in s]
    assert found, f"no source contains {needle!r}"
    return found[0]


def n_without(request: dict, needle: str) -> int:
    return next(n for n, s in enumerate(sources_of(request), 1) if needle not in s)


def scripted(template):
    """A responder that fills {kim}, {wonsan}, {other} with source numbers of this request."""
    def respond(request, index):
        return Reply(template.format(kim=n_with(request, KIM), wonsan=n_with(request, WONSAN),
                                     other=n_without(request, KIM)))
    return respond


# --- pure parts -----------------------------------------------------------------------------
def test_claims_are_sentences_and_clauses_with_their_own_markers():
    text = ("Lawrow besuchte Nordkorea zwei Tage [1] und traf dort Kim Jong-un [2]. Das war im Juli. [3] "
            "Er traf Kim [1] in Wonsan [2].")
    sentences = split_claims(text)
    assert [[(u.text, u.numbers) for u in s.units] for s in sentences] == [
        [("Lawrow besuchte Nordkorea zwei Tage", (1,)), ("traf dort Kim Jong-un.", (2,))],
        [("Das war im Juli.", (3,))],
        [("Er traf Kim in Wonsan.", (1, 2))],          # "in Wonsan" is no clause of its own
    ]
    assert rebuild(text, sentences, {}) == text
    assert rebuild(text, sentences, {(0, 1): None, (1, 0): (1,)}) == \
        "Lawrow besuchte Nordkorea zwei Tage [1]. Das war im Juli. [1] Er traf Kim [1] in Wonsan [2]."
    assert rebuild(text, sentences, {(0, 0): None, (2, 0): None}) == "Traf dort Kim Jong-un [2]. Das war im Juli. [3]"


def test_checkable_tokens_agree_modulo_transliteration():
    assert fold("Lawrow") == fold("Lavrov") and fold("Pjöngjang") == fold("Pyongyang")
    assert agreement("Lavrov met Choe Son Hui in Pyongyang in July 2023",
                     "Im Juli 2023 traf Lawrow Choe Son-hui in Pjöngjang.").ok
    assert agreement("Das Projekt kostet 1.500 Euro", "The project costs 1,500 euros").ok
    assert agreement("Lawrow war zwei Tage in Pjöngjang", "Lawrow war 2 Tage in Pjöngjang").ok
    assert agreement("Die Inflation liegt bei 40 Prozent", "Die Inflation liegt bei 14 Prozent").missing == ("40",)
    assert agreement("Im Mai 2023 reiste Schoigu", "Im Juli 2023 reiste Schoigu").missing == ("month 5",)
    assert agreement("Lawrow traf Peskow", "Lawrow traf Choe Son Hui").missing == ("Peskow",)


def test_an_invented_claim_is_not_supported_by_an_unrelated_passage(embedder):
    """The issue's example: on 788a794 this counted as verified (a Support with score 0.0)."""
    passage = ("Kremlsprecher Dmitri Peskow sagte, der russische Präsident werde Nordkorea zu einem "
               "geeigneten Zeitpunkt besuchen. Er nannte kein Datum.")
    v = Verifier(embedder.queries, embedder.passages)
    assert not v.check("Die Inflation in Japan liegt bei 40 Prozent.", passage).verified
    good = v.check("Peskow said that the Russian president would visit North Korea at a suitable time.", passage)
    assert good.verified and good.span.quote == passage[good.span.start:good.span.end]


# --- the five scripted cases (issue 12, item 5) ----------------------------------------------
def test_an_invented_claim_with_a_valid_marker_is_removed(seeded, server):
    server.responder = scripted("Lawrow wurde am Samstag von Staatschef Kim Jong-un empfangen [{kim}]. "
                                "Die Inflation in Japan liegt bei 40 Prozent [{kim}].")
    answer = llm_bot(seeded, server.url).ask(Q_DE)
    assert answer.mode == "llm:scripted"
    assert answer.text == "Lawrow wurde am Samstag von Staatschef Kim Jong-un empfangen [1]."
    assert answer.notice == prompts.notice("removed", "de", fallback=False)
    kept, removed = answer.claims
    assert kept.verified and kept.citations == [1] and kept.score > 0.8 and KIM in kept.evidence
    assert not removed.verified and removed.status == "removed" and removed.citations == []
    assert "Inflation" in removed.text
    (citation,) = answer.citations
    assert KIM in citation.quote and citation.score == kept.score


def test_a_true_claim_cited_to_the_wrong_source_is_re_pointed(seeded, server):
    server.responder = scripted("Lawrow wurde am Samstag von Staatschef Kim Jong-un empfangen [{other}].")
    answer = llm_bot(seeded, server.url).ask(Q_DE)
    assert answer.mode == "llm:scripted" and answer.notice == ""
    (claim,) = answer.claims
    assert claim.status == "repointed" and claim.verified
    request = server.requests[-1]
    assert claim.cited == [n_without(request, KIM)] and claim.cited != [n_with(request, KIM)]
    (citation,) = answer.citations
    assert KIM in citation.quote and citation.source == answer.passages[n_with(request, KIM) - 1].source


def test_a_changed_number_is_caught(seeded, server):
    needle = "Im Juli 2023 reiste der russische Verteidigungsminister"
    server.responder = lambda r, i: Reply(
        f"Im Juli 2021 reiste Verteidigungsminister Sergej Schoigu nach Pjöngjang [{n_with(r, needle)}]. "
        f"Lawrow besuchte Nordkorea im Oktober desselben Jahres [{n_with(r, needle)}].")
    answer = llm_bot(seeded, server.url).ask("Wann reiste Schoigu nach Pjöngjang?")
    assert answer.mode == "llm:scripted"
    assert "2021" not in answer.text and "Oktober" in answer.text
    wrong = next(c for c in answer.claims if "2021" in c.text)
    assert not wrong.verified and wrong.score == 0.0


HAMBURG = ("Hamburg wächst weiter\n\nDie Hansestadt Hamburg hat nach Angaben des Statistikamts Nord "
           "inzwischen 1.900.000 Einwohner. Im Jahr 2000 waren es noch rund 1,7 Millionen gewesen. Der "
           "Senat rechnet damit, dass die Stadt bis 2040 weiter wächst, vor allem durch Zuzug junger "
           "Familien aus dem Umland.\n")


def test_numbers_with_scale_words_are_checked_as_numbers(make_assistant, server, tmp_path):
    """An English answer says "1.9 million" where the article writes "1.900.000". Failed before:
    the check looked for 1.9 in the article, vetoed the true claim and fell back to the extractive
    answer. A claim with the wrong scale ("billion" for "Millionen") is still caught."""
    article = tmp_path / "articles" / "hamburg.txt"
    article.parent.mkdir()
    article.write_text(HAMBURG, encoding="utf-8")
    bot = make_assistant(seed=False)
    bot.ingest([article.parent])
    server.responder = lambda r, i: Reply(
        "According to the statistics office, Hamburg now has 1.9 million inhabitants [1]. "
        "In 2000 it had about 1.7 billion [1].")
    answer = llm_bot(bot, server.url).ask("How many people live in Hamburg?")
    assert answer.mode == "llm:scripted", (answer.notice, answer.claims)
    assert [c.verified for c in answer.claims] == [True, False], answer.claims
    assert "1.9 million" in answer.text and "billion" not in answer.text


def test_an_english_claim_with_a_swapped_name_is_not_kept_on_its_source(seeded, server):
    """Across languages a name is checked when the articles use it. The answering stage asked
    the lexical index for a `postings` attribute it does not have, so no name was ever checked in
    an English answer: this claim, with the head of state swapped for the foreign minister, was
    kept on the passage that names Kim Jong-un."""
    server.responder = scripted(
        "During his working visit to the DPRK, Russian Foreign Minister Sergei Lavrov was received on "
        "Saturday by head of state Choe Son Hui [{kim}].")
    answer = llm_bot(seeded, server.url).ask(Q_EN)
    assert answer.mode == "llm:scripted"
    (claim,) = answer.claims
    assert claim.status != "kept", claim


def test_an_english_claim_with_a_transliterated_wrong_name_is_not_kept(seeded, server):
    """Across languages only names the articles use are checked, and "use" meant the exact
    spelling: "Shoigu" (the articles write Schoigu) was never checked, so this claim, with the
    head of state swapped for the defence minister, was kept (re-pointed to a headline that names
    Lawrow). Now nothing supported is left, and the answer is the extractive one with the notice."""
    server.responder = scripted(
        "During his working visit to North Korea, Lavrov was received by Shoigu on Saturday [{kim}].")
    answer = llm_bot(seeded, server.url).ask(Q_EN)
    assert answer.mode == "extractive", answer.claims
    assert answer.notice == prompts.notice("unverified", "en")


def test_a_correct_bilingual_answer_is_kept_whole(seeded, server):
    english = ("Lavrov was received by head of state Kim Jong-un on Saturday [{kim}]. Their meeting took "
               "place in the coastal city of Wonsan [{wonsan}].")
    server.responder = scripted(english)
    chunks = list(llm_bot(seeded, server.url).stream(Q_EN))
    answer = chunks[-1]
    assert answer.mode == "llm:scripted" and answer.notice == ""
    assert answer.text == "".join(chunks[:-1])      # nothing removed: what streamed stands
    assert [c.verified for c in answer.claims] == [True, True]
    assert all(c.status == "kept" for c in answer.claims)
    kim, wonsan = answer.claims
    assert KIM in kim.evidence and "Wŏnsan" in wonsan.evidence
    quotes = [c.quote for c in answer.citations]
    assert kim.evidence in quotes and wonsan.evidence in quotes    # each claim's evidence is cited


def test_a_mix_loses_only_the_bad_claim(seeded, server):
    server.responder = scripted("Lawrow wurde am Samstag von Staatschef Kim Jong-un empfangen [{kim}] und "
                                "unterzeichnete dort einen Vertrag über 300 Panzer [{kim}]. Das Treffen "
                                "fand in der Küstenstadt Wŏnsan statt [{wonsan}].")
    answer = llm_bot(seeded, server.url).ask(Q_DE)
    assert answer.text == ("Lawrow wurde am Samstag von Staatschef Kim Jong-un empfangen [1]. "
                           "Das Treffen fand in der Küstenstadt Wŏnsan statt [1].")
    assert [c.verified for c in answer.claims] == [True, False, True]
    assert answer.notice == prompts.notice("removed", "de", fallback=False)


def test_no_supported_claim_left_falls_back_to_the_extractive_answer(seeded, server):
    server.responder = scripted("Die Inflation in Japan liegt bei 40 Prozent [{kim}].")
    answer = llm_bot(seeded, server.url).ask(Q_DE)
    assert answer.mode == "extractive"
    assert answer.notice == prompts.notice("unverified", "de")
    assert answer.text == seeded.ask(Q_DE).text


# --- context window (item 4) ----------------------------------------------------------------
def _limited(limit_chars: int):
    """A server whose context holds `limit_chars` characters of prompt; more is a 400."""
    def respond(request, index):
        size = sum(len(m["content"]) for m in request["messages"])
        if size > limit_chars:
            return Reply(status=400, error={"error": {"message": "the prompt is too long: maximum context "
                                                                 "length exceeded"}})
        return Reply(f"Lawrow wurde von Staatschef Kim Jong-un empfangen [{n_with(request, KIM)}].")
    return respond


def test_sources_are_trimmed_to_the_configured_context_window(seeded, server):
    server.responder = _limited(3 * (1200 - 200 - 96))
    answer = llm_bot(seeded, server.url, llm_context_window=1200, llm_max_tokens=200).ask(Q_DE)
    assert answer.mode == "llm:scripted" and answer.notice == "", answer.notice
    sent = sources_of(server.requests[-1])
    assert 1 <= len(sent) < len(answer.passages)       # the weakest passages were left out
    assert answer.passages[0].text.strip().startswith(sent[0].strip()[:200])


def test_the_server_reported_context_window_wins(seeded, server):
    server.model_info = {"max_model_len": 1200}
    server.responder = _limited(3 * (1200 - 200 - 96))
    answer = llm_bot(seeded, server.url, llm_context_window=32768, llm_max_tokens=200).ask(Q_DE)
    assert answer.mode == "llm:scripted" and answer.notice == "", answer.notice
    assert len(sources_of(server.requests[-1])) < len(answer.passages)


# --- the benchmark's data (item 2); its numbers come from `python -m rag eval claims` ------------
def test_xquad_split_and_benchmark_items():
    from pathlib import Path

    from rag.evaluation import claims_eval, data

    assert [data.xquad_split(i) for i in range(4)] == ["dev", "test", "dev", "test"]
    folder = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "xquad"
    folder = folder if folder.is_dir() else Path("/work/shared/data/xquad")
    paragraphs = claims_eval.first_paragraphs(data.load_parallel(folder), 2)
    assert len(paragraphs) == 96 and {p.article for p in paragraphs} == set(range(48))
    items = claims_eval.build_items(paragraphs)
    by = {(it.id, it.kind): it for it in items}
    for it in items:
        assert it.split == data.xquad_split(int(it.paragraph[:2]))
        if it.kind == "unsupported":
            assert it.paragraph != by[(it.id, "supported")].paragraph
            assert it.paragraph[:2] == by[(it.id, "supported")].paragraph[:2]     # same article
        if it.kind == "perturbed":
            kind, old, _, new = it.change.split(" ", 3)
            original = by[(it.id, "supported")].claim
            word = lambda w, t: re.search(rf"(?<!\w){re.escape(w)}(?!\w)", t)
            assert word(old, original) and word(new, it.claim) and not word(new, original)
            assert kind in ("number", "date", "name")
    kinds = {it.change.split()[0] for it in items if it.kind == "perturbed"}
    assert kinds == {"number", "date", "name"}
