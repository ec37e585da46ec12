"""Sentence splitting and sentence-aware chunking, both with character offsets."""
from __future__ import annotations

import re
from dataclasses import dataclass

# Abbreviations after which a period does not end a sentence (German and English news).
_ABBREV = {
    "dr", "prof", "hr", "fr", "nr", "str", "st", "bzw", "ca", "vgl", "usw", "etc", "z", "b", "d", "h",
    "u", "a", "o", "s", "v", "chr", "jh", "jhd", "mio", "mrd", "bzgl", "ggf", "inkl", "evtl", "sog",
    "mr", "mrs", "ms", "jr", "sr", "vs", "no", "gen", "col", "lt", "sgt", "capt", "gov", "sen", "rep",
    "jan", "feb", "mär", "apr", "jun", "jul", "aug", "sep", "sept", "okt", "oct", "nov", "dez", "dec",
    "abs", "art", "bd", "hrsg", "mind", "max", "min", "tel", "zit", "bspw", "dt", "engl", "franz",
}

# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before whitespace,
# and always at a paragraph break. A single line break does not end one: hard-wrapped text breaks
# lines mid-sentence, and a line that does end a sentence ends with punctuation anyway.
_BOUNDARY = re.compile(r"[.!?…]+[\"'“”»«‘’)\]]*(?=\s)|\n[ \t]*\n")


_MONTH = re.compile(r"(Jan|Feb|Mär|Apr|Mai|Jun|Jul|Aug|Sep|Okt|Nov|Dez)", re.I)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


def split_sentences(text: str) -> list[Span]:
    spans: list[Span] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        end = m.end()
        if not m.group(0).endswith("\n"):
            word = re.search(r"(\w+)\W*$", text[start:m.start() + 1])
            token = word.group(1).lower() if word else ""
            if token in _ABBREV or token.isdigit() and len(token) <= 2:
                # "z. B." / "Dr. Merz" / "am 3. Oktober": not the end of a sentence.
                nxt = re.match(r"\s*(\S*)", text[end:end + 20]).group(1)
                if token in _ABBREV or not nxt[:1].isupper() or _MONTH.match(nxt):
                    continue
        _push(spans, text, start, end)
        start = end
    _push(spans, text, start, len(text))
    return spans


def _push(spans: list[Span], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    lead = len(piece) - len(piece.lstrip())
    trail = len(piece.rstrip())
    if trail > lead:
        spans.append(Span(start + lead, start + trail, piece[lead:trail]))


def chunk(text: str, max_chars: int, overlap_chars: int) -> list[Span]:
    """Pack whole sentences into chunks of at most max_chars; consecutive chunks share
    trailing sentences of up to overlap_chars so an answer split across a border is still found.
    A single sentence longer than max_chars is cut at word boundaries."""
    sentences: list[Span] = []
    for s in split_sentences(text):
        sentences.extend(_split_long(s, max_chars))
    chunks: list[Span] = []
    i = 0
    while i < len(sentences):
        j = i
        while j < len(sentences) and sentences[j].end - sentences[i].start <= max_chars:
            j += 1
        j = max(j, i + 1)
        start, end = sentences[i].start, sentences[j - 1].end
        chunks.append(Span(start, end, text[start:end]))
        if j >= len(sentences):
            break
        # Step back over whole sentences that fit in the overlap, but always move forward.
        k = j
        while k - 1 > i and sentences[j - 1].end - sentences[k - 1].start <= overlap_chars:
            k -= 1
        i = k
    return chunks


def _split_long(s: Span, max_chars: int) -> list[Span]:
    if len(s.text) <= max_chars:
        return [s]
    out, pos = [], 0
    while pos < len(s.text):
        end = min(pos + max_chars, len(s.text))
        if end < len(s.text):
            cut = s.text.rfind(" ", pos + max_chars // 2, end)
            end = cut if cut > pos else end
        piece = s.text[pos:end]
        lead = len(piece) - len(piece.lstrip())
        if piece.strip():
            out.append(Span(s.start + pos + lead, s.start + pos + len(piece.rstrip()), piece.strip()))
        pos = end
    return out
