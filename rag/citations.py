"""Citation markers in generated answers: parse them, drop those that point to sources that were
not given, renumber the rest in order of first use, and tie each to the best-matching verbatim
span of its source.

Pure functions, no models. `MarkerRewriter` works on a stream of text deltas and gives exactly
the text that `rewrite_markers` gives for the whole answer, so what a user sees while an answer
streams is what the verified answer says.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .chunking import split_sentences
from .lexical import tokenize

# [1]  [1, 2]  [1;2]  [Quelle 1]  [Source 2, 3]: what models write when told to cite as [n].
_MARKER = re.compile(
    r"\[\s*(?:(?:quellen?|sources?|src)\s*)?(\d{1,3}(?:\s*[,;]\s*(?:(?:quellen?|sources?)\s*)?\d{1,3})*)\s*\]",
    re.I)
# What may stand between "[" and "]" of a marker that has not fully arrived yet.
_PARTIAL = re.compile(r"\[[\s\d,;a-zA-Z]{0,30}\Z")
_MAX_MARKER_CHARS = 40
_CLOSING_PUNCT = set(".,;:!?)»“”\"'")
_QUOTED = re.compile(r"„([^“”]+)[“”]|“([^”]+)”|\"([^\"]+)\"|»([^«]+)«|«([^»]+)»|‚([^‘’]+)[‘’]")


@dataclass(frozen=True)
class Marker:
    start: int
    end: int
    numbers: tuple[int, ...]


def parse_markers(text: str) -> list[Marker]:
    """Every citation marker in `text`, with the source numbers it names, in order."""
    return [Marker(m.start(), m.end(), tuple(int(d) for d in re.findall(r"\d+", m.group(1))))
            for m in _MARKER.finditer(text)]


def strip_markers(text: str) -> str:
    """`text` without citation markers (for chat history and language detection)."""
    out = _MARKER.sub("", text)
    out = re.sub(r"[ \t]+([.,;:!?)])", r"\1", out)
    return re.sub(r"[ \t]{2,}", " ", out).strip()


def strip_quotes(text: str) -> str:
    """`text` without quoted passages: a German quote inside an English answer is not a sign
    that the answer is in German."""
    return _QUOTED.sub(" ", text)


class MarkerRewriter:
    """Rewrites markers as text streams in: numbers outside 1..k are dropped (with the space
    before them), the rest are renumbered in order of first use and written as [n][m]."""

    def __init__(self, k: int):
        self.k = k
        self.mapping: dict[int, int] = {}     # number the model used -> number in the answer
        self.dropped: list[int] = []
        self._pending = ""                    # text not yet safe to emit
        self._held_space = ""                 # whitespace that may stand before a marker
        self._space_after = ""                # whitespace after a dropped marker
        self._after_dropped = False           # the last thing seen was a dropped marker
        self._last_marker_end = False         # the last thing emitted was a kept marker
        self._last_numbers: tuple[int, ...] = ()
        self._started = False

    @property
    def new_to_old(self) -> dict[int, int]:
        return {new: old for old, new in self.mapping.items()}

    def feed(self, delta: str) -> str:
        self._pending += delta
        return self._out(self._drain(final=False))

    def finish(self) -> str:
        out = self._out(self._drain(final=True))
        self._held_space = self._space_after = ""
        return out

    def _out(self, s: str) -> str:
        if not self._started:
            s = s.lstrip()
            self._started = bool(s)
        return s

    def _emit_text(self, s: str) -> str:
        """Text that is not a marker; trailing whitespace waits for what follows it."""
        core = s.strip()
        if not core:
            if self._after_dropped:
                self._space_after += s
            else:
                self._held_space += s
            return ""
        lead = s[:len(s) - len(s.lstrip())]
        trail = s[len(s.rstrip()):]
        if self._after_dropped:
            lead = self._space_after + lead
            if core[0] in _CLOSING_PUNCT:
                ws = ""             # "text [9]." -> "text."
            elif self._held_space and self._held_space.count("\n") >= lead.count("\n"):
                ws = self._held_space
            else:
                ws = re.sub(r"[ \t]+", "", lead) if "\n" in lead else lead
        else:
            ws = self._held_space + lead
        self._held_space, self._space_after = trail, ""
        self._after_dropped = self._last_marker_end = False
        return ws + core

    def _emit_marker(self, numbers: tuple[int, ...]) -> str:
        kept = []
        for n in numbers:
            if 1 <= n <= self.k:
                new = self.mapping.setdefault(n, len(self.mapping) + 1)
                if new not in kept:
                    kept.append(new)
            else:
                self.dropped.append(n)
        in_run = self._last_marker_end and "\n" not in self._held_space
        if in_run:
            # "[1][1]" or "[1, 2] [2]": each number once per run of markers.
            kept = [n for n in kept if n not in self._last_numbers]
        if not kept:
            self._after_dropped = True
            return ""
        self._last_numbers = (self._last_numbers if in_run else ()) + tuple(kept)
        out = self._held_space + "".join(f"[{n}]" for n in kept)
        self._held_space = self._space_after = ""
        self._after_dropped = False
        self._last_marker_end = True
        return out

    def _drain(self, final: bool) -> str:
        out = []
        while self._pending:
            i = self._pending.find("[")
            if i < 0:
                out.append(self._emit_text(self._pending))
                self._pending = ""
                break
            if i > 0:
                out.append(self._emit_text(self._pending[:i]))
                self._pending = self._pending[i:]
            m = _MARKER.match(self._pending)
            if m:
                out.append(self._emit_marker(tuple(int(d) for d in re.findall(r"\d+", m.group(1)))))
                self._pending = self._pending[m.end():]
                continue
            if not final and len(self._pending) < _MAX_MARKER_CHARS and _PARTIAL.match(self._pending):
                break           # may still become a marker: wait for more text
            if final and _PARTIAL.match(self._pending) and re.search(r"\d", self._pending):
                self._pending = ""     # "[1" cut off at the end: a broken marker, not text
                break
            out.append(self._emit_text("["))
            self._pending = self._pending[1:]
        return "".join(out)


def rewrite_markers(text: str, k: int) -> tuple[str, dict[int, int], list[int]]:
    """(text with markers outside 1..k removed and the rest renumbered in order of first use,
    {new number: given number}, numbers that were dropped)."""
    r = MarkerRewriter(k)
    out = r.feed(text) + r.finish()
    return out.strip(), r.new_to_old, r.dropped


# --- which span of a source supports a claim ---------------------------------------------------
@dataclass(frozen=True)
class Claim:
    text: str                 # the stretch of the answer a marker stands behind, markers removed
    numbers: tuple[int, ...]  # the markers' numbers


def claims(text: str) -> list[Claim]:
    """Each marker with the words it stands behind: the stretch of its sentence since the
    previous marker, or the whole sentence when that stretch is too short to mean anything.
    A marker right after a sentence's full stop belongs to that sentence."""
    plain, positions = [], []
    last = 0
    for m in parse_markers(text):
        plain.append(text[last:m.start])
        positions.append((sum(map(len, plain)), m.numbers))
        last = m.end
    plain.append(text[last:])
    flat = "".join(plain)
    sentences = split_sentences(flat)
    out: list[Claim] = []
    # Per sentence: where the stretch behind the last marker began, and where that marker stood.
    last: dict[int, tuple[int, int]] = {}
    for pos, numbers in positions:
        idx = None
        for j, s in enumerate(sentences):
            if s.start < pos:
                idx = j
        if idx is None:
            if not sentences:
                continue
            idx = 0         # "[1] Peskow ist ...": a leading marker cites the first sentence
        s = sentences[idx]
        prev_start, prev_pos = last.get(idx, (s.start, s.start))
        # Adjacent markers ("[1][2]") stand behind the same words.
        seg_start = prev_start if pos == prev_pos else prev_pos
        segment = flat[seg_start:min(pos, s.end)].strip(" ,;:–-\n")
        last[idx] = (seg_start, pos)
        chosen = segment if len(segment) >= 20 else s.text
        chosen = re.sub(r"\s+([.,;:!?])", r"\1", chosen).strip()
        if chosen:
            out.append(Claim(chosen, numbers))
    return out


Scorer = Callable[[str, list[str]], Sequence[float]]


def lexical_overlap(claim: str, candidates: list[str]) -> list[float]:
    """Share of the claim's content words (stemmed, German or English) found in each candidate."""
    def terms(t: str) -> set[str]:
        return set(tokenize(t, "de")) | set(tokenize(t, "en"))

    c = terms(claim)
    return [len(c & terms(x)) / max(1, len(c)) for x in candidates]


@dataclass(frozen=True)
class Span:
    start: int          # character offsets in the source text
    end: int
    quote: str          # source_text[start:end]
    score: float
    exact: bool = False  # the answer quoted this span verbatim


def best_span(claim: str, source_text: str, scorer: Scorer | None = None) -> Span | None:
    """The verbatim span of `source_text` that best supports `claim`: a quotation from the source
    that the claim repeats word for word, else the best-scoring sentence."""
    for m in _QUOTED.finditer(claim):
        q = next(g for g in m.groups() if g is not None).strip()
        if len(q) >= 15:
            i = source_text.find(q)
            if i >= 0:
                return Span(i, i + len(q), q, 1.0, exact=True)
    bare = claim.strip().rstrip(".")
    if len(bare) >= 20:
        i = source_text.find(bare)
        if i >= 0:
            return Span(i, i + len(bare), bare, 1.0, exact=True)
    sentences = split_sentences(source_text)
    candidates = [s for s in sentences if len(s.text.split()) >= 3] or sentences
    if not candidates:
        return None
    scores = list((scorer or lexical_overlap)(claim, [s.text for s in candidates]))
    best = max(range(len(candidates)), key=lambda i: (scores[i], -i))
    s = candidates[best]
    return Span(s.start, s.end, s.text, float(scores[best]))


@dataclass(frozen=True)
class Support:
    n: int               # the marker's number in the answer
    source_index: int    # 0-based index of the source it points to
    span: Span
    claims: tuple[str, ...] = field(default=())


def supports(text: str, sources: list[str], new_to_old: dict[int, int],
             scorer: Scorer | None = None) -> list[Support]:
    """One Support per marker number in `text` (already rewritten), with the best span over all
    the claims that cite it, in order of n."""
    by_n: dict[int, list[str]] = {}
    for c in claims(text):
        for n in c.numbers:
            by_n.setdefault(n, []).append(c.text)
    out = []
    for n in sorted(by_n):
        old = new_to_old.get(n)
        if old is None or not 1 <= old <= len(sources):
            continue
        spans = [s for s in (best_span(c, sources[old - 1], scorer) for c in by_n[n]) if s]
        if spans:
            best = max(spans, key=lambda s: (s.exact, s.score))
            out.append(Support(n, old - 1, best, tuple(by_n[n])))
    return out


# --- claims as units of an answer that can be kept, re-pointed or removed ----------------------
_CONJ = re.compile(r"\s*,?\s*(?:und|and)\s", re.I)
_MARKER_RUN = re.compile(r"(?:\s*\[\d+\])+")


@dataclass(frozen=True)
class ClaimUnit:
    sentence: int             # index of the sentence of the answer it belongs to
    raw: str                  # the piece of the answer, markers included, as written
    text: str                 # the words, markers removed
    numbers: tuple[int, ...]  # its markers' numbers, in order


@dataclass(frozen=True)
class AnswerSentence:
    start: int
    end: int
    units: tuple[ClaimUnit, ...]
    final: str                # the sentence's closing punctuation ("" if none)


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentences of a rewritten answer; markers after a full stop ("... Juli. [3]") stay with the
    sentence they follow."""
    spans = [(s.start, s.end) for s in split_sentences(text)]
    out: list[list[int]] = []
    for s, e in spans:
        lead = _MARKER_RUN.match(text, s)
        if out and lead and lead.end() > s:
            out[-1][1] = lead.end()
            s = lead.end()
            while s < e and text[s].isspace():
                s += 1
            if s >= e:
                continue
        out.append([s, e])
    return [(s, e) for s, e in out]


def split_claims(text: str) -> list[AnswerSentence]:
    """The answer's sentences, each split into claims: a clause joined by "und"/"and" that
    carries its own [n] is a claim of its own ("A [1] und B [2]." -> "A [1]", "und B [2]."); any
    other marker inside a sentence cites the whole sentence."""
    out = []
    for i, (s, e) in enumerate(_sentence_spans(text)):
        sent = text[s:e]
        cuts = [0]
        for m in _MARKER_RUN.finditer(sent):
            if m.end() < len(sent) and _CONJ.match(sent, m.end()):
                cuts.append(m.end())
        cuts.append(len(sent))
        units = []
        for a, b in zip(cuts, cuts[1:]):
            raw = sent[a:b]
            nums = tuple(dict.fromkeys(n for m in parse_markers(raw) for n in m.numbers))
            words = strip_markers(raw).strip(" ,;")
            words = re.sub(r"^(?:und|and)\s+", "", words, flags=re.I).strip(" ,;")
            if raw.strip():
                units.append(ClaimUnit(i, raw, words, nums))
        final = re.search(r"([.!?…]+)[\"'“”»«‘’)\]]*\s*(?:\[\d+\]\s*)*$", sent)
        out.append(AnswerSentence(s, e, tuple(units), final.group(1) if final else ""))
    return out


def _cite(raw: str, numbers: tuple[int, ...]) -> str:
    """`raw` with its markers replaced by one run of `numbers` where its first marker stood."""
    ms = list(_MARKER_RUN.finditer(raw))
    run = "".join(f"[{n}]" for n in numbers)
    if not ms:
        body = raw.rstrip()
        m = re.search(r"[.!?…]+$", body)
        return f"{body[:m.start()]} {run}{m.group(0)}" if m else f"{body} {run}"
    first = ms[0]
    out = raw[:first.start()] + (" " + run if run else "") + _MARKER_RUN.sub("", raw[first.end():])
    return out


def rebuild(text: str, sentences: list[AnswerSentence], decisions: dict[tuple[int, int], tuple[int, ...] | None]) -> str:
    """The answer with each claim kept as written, re-cited (a tuple of new numbers) or removed
    (None); `decisions` is keyed by (sentence, unit index) and omits claims kept as written.
    A sentence that loses its last clause keeps its closing punctuation; one that loses its first
    starts with the next clause, capitalised, without its "und"/"and"."""
    pieces: list[str] = []
    prev_end = 0
    for i, sent in enumerate(sentences):
        kept = []
        for j, u in enumerate(sent.units):
            d = decisions.get((i, j), u.numbers)
            if d is None:
                continue
            kept.append(u.raw if d == u.numbers else _cite(u.raw, d))
        gap = text[prev_end:sent.start]
        prev_end = sent.end
        if not kept:
            continue
        if len(kept) < len(sent.units):
            body = "".join(kept).strip()
            if decisions.get((i, 0), sent.units[0].numbers) is None:
                body = re.sub(r"^(?:,?\s*)(?:und|and)\s+", "", body, flags=re.I)
                body = body[:1].upper() + body[1:]
            if sent.final and not re.search(r"[.!?…][\"'“”»«‘’)\]]*\s*(?:\[\d+\]\s*)*$", body):
                body = body.rstrip(" ,;") + sent.final
        else:
            body = "".join(kept).strip()
        pieces.append((gap if pieces else "") + body)
    return "".join(pieces).strip()
