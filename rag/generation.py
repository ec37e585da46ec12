"""The LLM answering stage: prompt -> stream -> verify -> fallbacks.

What streams out is what the verified answer says: markers are rewritten while they stream
(invalid ones dropped, the rest renumbered in order of first use), and the first characters are
held back until the answer's language is clear, so a wrong-language start is never shown. When
the model's answer cannot be used (a failure, no valid citation, the wrong language twice), the
extractive answer takes its place; if some text was already shown, the stream goes on with a
blank line, the notice and the replacement, so a display that only appends still reads right.
The final Outcome is authoritative.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from . import language, prompts
from .citations import MarkerRewriter, lexical_overlap, rewrite_markers, strip_markers, strip_quotes
from .extractive import abstention_text
from .llm import Backend, LLMError, chat_once, stream_text
from .results import Citation, ClaimSupport, Passage
from .verification import Evidence, VerifiedAnswer, Verifier, verify_answer

# Characters of answer text (without markers) held back before the language is judged.
LANGUAGE_HOLD_CHARS = 60
# Below this detector confidence in the wanted language an answer counts as the wrong one.
WRONG_LANGUAGE_CONFIDENCE = 0.35

Fallback = Callable[[], tuple[str, list[Citation], bool]]


@dataclass
class Outcome:
    text: str
    citations: list[Citation]
    abstained: bool
    mode: str                      # "llm:<model>" or "extractive"
    notice: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    claims: list[ClaimSupport] = field(default_factory=list)


# --- small pure helpers ----------------------------------------------------------------------
def _words(text: str) -> list[str]:
    return re.findall(r"[^\W\d_]+", text)


def wrong_language(text: str, lang: str) -> bool:
    """Is `text` clearly not in `lang`? Quotes and markers are ignored; too little to judge is
    never wrong."""
    plain = strip_quotes(strip_markers(text))
    if len(_words(plain)) < 4:
        return False
    if language.detect(plain, default=lang) == lang:
        return False
    return language.confidence(plain, lang) < WRONG_LANGUAGE_CONFIDENCE


_ABSTAIN = {
    "de": re.compile(r"steht nichts|nicht in den (artikeln|quellen)|enthalten (keine|nichts)|keine "
                     r"(angaben|informationen?)|nicht beantwort|geben (darüber )?keine auskunft|nicht erwähnt",
                     re.I),
    "en": re.compile(r"(don't|do not|does not|doesn't) (say|contain|mention|answer)|not (mentioned|stated)|"
                     r"no information|(cannot|can't|can not) (be )?answer|not in the (articles|sources)", re.I),
}


def is_abstention(text: str, lang: str) -> bool:
    plain = strip_markers(text).strip()
    if not plain:
        return False
    if plain.rstrip(".") == abstention_text(lang).rstrip("."):
        return True
    return any(p.search(plain) for p in _ABSTAIN.values())


class LanguageGate:
    """Holds back the start of an answer until it is clear whether it is in `lang`."""

    def __init__(self, lang: str, hold_chars: int = LANGUAGE_HOLD_CHARS):
        self.lang, self.hold_chars = lang, hold_chars
        self.held = ""
        self.open = False
        self.wrong = False

    def feed(self, text: str) -> str:
        if self.open:
            return text
        self.held += text
        if len(strip_quotes(strip_markers(self.held))) < self.hold_chars:
            return ""
        return self._decide()

    def finish(self) -> str:
        return "" if self.open else self._decide()

    def _decide(self) -> str:
        if wrong_language(self.held, self.lang):
            self.wrong = True
            return ""
        self.open = True
        out, self.held = self.held, ""
        return out


def to_citation(n: int, source_index: int, evidence: Evidence, passages: list[Passage]) -> Citation:
    """Offsets go through the passage's cleaning segments to the source file, exactly as the
    extractive answer's citations do."""
    return passages[source_index].cite(n, evidence.span.start, evidence.span.end, score=evidence.score)


def to_passage_numbers(text: str, new_to_old: dict[int, int]) -> str:
    """Markers renumbered back to the passages' own numbers (1..k), which claims are checked and
    re-pointed in; the answer is renumbered in order of first use again afterwards."""
    from .citations import _MARKER

    def sub(m) -> str:
        nums = [new_to_old.get(int(d)) for d in re.findall(r"\d+", m.group(1))]
        return "".join(f"[{n}]" for n in nums if n)

    return _MARKER.sub(sub, text)


def checked_answer(text: str, new_to_old: dict[int, int], passages: list[Passage],
                   verifier: Verifier) -> tuple[str, list[Citation], list[ClaimSupport]]:
    """(the answer with only supported claims, renumbered; a Citation per [n] and evidence span of
    the claims citing it; every claim's support)."""
    result: VerifiedAnswer = verify_answer(to_passage_numbers(text, new_to_old),
                                           [p.text for p in passages], verifier)
    final, final_to_passage, _ = rewrite_markers(result.text, len(passages))
    passage_to_final = {p: n for n, p in final_to_passage.items()}
    spans: dict[int, dict[tuple[int, int], Evidence]] = {}
    claims = []
    for c in result.claims:
        for p, e in c.evidence.items():
            seen = spans.setdefault(p, {})
            key = (e.span.start, e.span.end)
            if key not in seen or e.score > seen[key].score:
                seen[key] = e
        top = max(c.evidence.values(), key=lambda e: e.score, default=None)
        claims.append(ClaimSupport(
            text=c.text, citations=[passage_to_final[p] for p in c.sources if p in passage_to_final],
            score=round(c.score, 4), verified=c.status in ("kept", "repointed"), status=c.status,
            cited=list(c.cited), evidence=top.span.quote if top else ""))
    # One Citation per evidence span: a source cited by two claims shows both quotes.
    citations = [to_citation(n, p - 1, e, passages) for n, p in sorted(final_to_passage.items())
                 for _, e in sorted(spans.get(p, {}).items())]
    return final, citations, claims


class EmbeddingScorer:
    """Which sentence of a source best matches a claim: e5 similarity (works across languages,
    where shared words do not) plus shared content words. Sentence vectors are cached per answer.
    (The check that decides whether a claim is supported is rag/verification.py.)"""

    def __init__(self, embed_queries, embed_passages):
        self.embed_queries, self.embed_passages = embed_queries, embed_passages
        self._cache: dict[str, np.ndarray] = {}

    def __call__(self, claim: str, candidates: list[str]) -> list[float]:
        missing = [c for c in dict.fromkeys(candidates) if c not in self._cache]
        if missing:
            for text, vec in zip(missing, self.embed_passages(missing)):
                self._cache[text] = vec
        q = self.embed_queries([claim])[0]
        sims = [float(self._cache[c] @ q) for c in candidates]
        lex = lexical_overlap(claim, candidates)
        return [s + 0.08 * l for s, l in zip(sims, lex)]


def _deltas(backend: Backend, messages, deadline: float, received: list[str]) -> Iterator[str]:
    """The stream; when it breaks before its first word, the same request once without
    streaming, which gets a server's real error (or its answer) instead of a cut connection."""
    try:
        yield from stream_text(backend, messages, deadline)
    except LLMError as e:
        if e.kind != "malformed" or received or backend.kind != "openai":
            raise
        text = chat_once(backend, messages, deadline)
        if not text:
            raise
        yield text


# --- the stage -------------------------------------------------------------------------------
def run(question: str, lang: str, passages: list[Passage], backend: Backend, deadline: float,
        fallback: Fallback, verifier: Verifier) -> Iterator[str | Outcome]:
    """Yields answer text as it is produced, then one Outcome. Never raises for LLM failures."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    shown: list[str] = []

    def replace(kind: str, **values) -> Iterator[str | Outcome]:
        timings["llm"] = round((time.perf_counter() - t0) * 1000, 1)
        t_fb = time.perf_counter()
        text, citations, abstained = fallback()
        timings["fallback"] = round((time.perf_counter() - t_fb) * 1000, 1)
        note = prompts.notice(kind, lang, **values)
        piece = text if not "".join(shown).strip() else f"\n\n{note}\n\n{text}"
        yield piece
        yield Outcome(text, citations, abstained, "extractive", note, timings)

    if not passages:
        text, citations, abstained = fallback()
        yield text
        yield Outcome(text, citations, abstained, "extractive", "", timings)
        return
    # Only what fits the model's context window is sent (the weakest passages go first); the
    # numbering stays that of the retrieved passages, since the kept ones are a prefix.
    passages = prompts.fit_passages(question, lang, passages, backend.context_window, backend.max_tokens)
    if not passages:
        yield from replace("context")
        return

    for attempt, strict in enumerate((False, True)):
        if attempt and time.monotonic() >= deadline:
            yield from replace("language")
            return
        if attempt and "".join(shown).strip():
            shown.append("\n\n")
            yield "\n\n"
        messages = prompts.answer_messages(question, lang, passages, strict=strict)
        rewriter = MarkerRewriter(len(passages))
        gate = LanguageGate(lang)
        full: list[str] = []
        received: list[str] = []
        try:
            for delta in _deltas(backend, messages, deadline, received):
                if "first_token" not in timings:
                    timings["first_token"] = round((time.perf_counter() - t0) * 1000, 1)
                received.append(delta)
                out = rewriter.feed(delta)
                full.append(out)
                piece = gate.feed(out)
                if piece:
                    shown.append(piece)
                    yield piece
                if gate.wrong:
                    break
            else:
                out = rewriter.finish()
                full.append(out)
                piece = gate.feed(out) + gate.finish()
                if piece:
                    shown.append(piece)
                    yield piece
        except LLMError as e:
            yield from replace(e.kind if e.kind in prompts.NOTICES else "failed", timeout=backend.timeout,
                               status=e.status or "?", detail=e.detail)
            return
        text = "".join(full).strip()
        if gate.wrong or wrong_language(text, lang):
            continue
        break
    else:
        yield from replace("language")
        return
    timings["llm"] = round((time.perf_counter() - t0) * 1000, 1)

    t1 = time.perf_counter()
    checked, citations, claims = checked_answer(text, rewriter.new_to_old, passages, verifier)
    timings["verify"] = round((time.perf_counter() - t1) * 1000, 1)
    if citations:
        removed = any(not c.verified for c in claims)
        note = prompts.notice("removed", lang, fallback=False) if removed else ""
        yield Outcome(checked, citations, False, backend.label, note, timings, claims)
        return
    fb_text, fb_citations, fb_abstained = fallback()
    if fb_abstained and is_abstention(text, lang):
        yield Outcome(text, [], True, backend.label, "", timings)
        return
    yield from replace("unverified")
