"""Boilerplate removal and metadata extraction for news articles.

The rules live in data files (rag/data/boilerplate.tsv, rag/data/outlets.tsv) so that a newsroom can
add its own site's junk without touching code. Cleaning only ever removes whole lines or a matched
prefix, never rewrites text inside a line: quotes taken from the cleaned text are verbatim quotes of
the source, and `CleanText.to_source()` maps their offsets back to the source text.
"""
from __future__ import annotations

import bisect
import datetime
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Rule:
    action: str          # drop | strip | stop
    pattern: re.Pattern


@dataclass
class CleanText:
    text: str
    # (clean_start, source_start, length): each kept piece of a line and where it came from.
    segments: list[tuple[int, int, int]] = field(default_factory=list)
    dropped_lines: int = 0

    def to_source(self, offset: int) -> int:
        """Map a character offset in the cleaned text to the source text."""
        return to_source(self.segments, offset)


def to_source(segments: list, offset: int) -> int:
    """Map a cleaned-text offset through (clean_start, source_start, length) segments."""
    if not segments:
        return offset
    starts = [s[0] for s in segments]
    i = max(0, bisect.bisect_right(starts, offset) - 1)
    clean_start, source_start, length = segments[i]
    return source_start + min(max(offset - clean_start, 0), length)


def _read_tsv(path: Path) -> list[list[str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(line.split("\t", 1))
    return rows


@lru_cache(maxsize=None)
def load_rules(path: Path = DATA_DIR / "boilerplate.tsv") -> tuple[Rule, ...]:
    rules = []
    for action, pattern in _read_tsv(path):
        if action not in {"drop", "strip", "stop"}:
            raise ValueError(f"{path}: unknown action {action!r}")
        rules.append(Rule(action, re.compile(pattern.strip(), re.IGNORECASE)))
    return tuple(rules)


@lru_cache(maxsize=None)
def load_outlet_rules(path: Path = DATA_DIR / "outlets.tsv") -> tuple[tuple[str, re.Pattern], ...]:
    return tuple((scope, re.compile(p.strip())) for scope, p in _read_tsv(path))


def _line_spans(text: str) -> list[tuple[int, str]]:
    spans, pos = [], 0
    for line in text.splitlines(keepends=True):
        spans.append((pos, line.rstrip("\r\n")))
        pos += len(line)
    return spans


def clean(text: str, rules: tuple[Rule, ...] | None = None) -> CleanText:
    """Drop boilerplate lines; join what remains, one blank line between paragraphs."""
    rules = load_rules() if rules is None else rules
    spans = _line_spans(text)
    kept: list[tuple[int, str]] = []   # (source offset, line text)
    seen: set[str] = set()
    blank_before: list[bool] = []
    dropped = 0
    pending_blank = False

    def verdict(line: str) -> tuple[str, int]:
        """('keep'|'drop'|'stop', how many leading chars to strip)."""
        cut = 0
        for r in rules:
            m = r.pattern.search(line[cut:])
            if not m:
                continue
            if r.action == "stop":
                return "stop", 0
            if r.action == "drop":
                return "drop", 0
            if r.action == "strip" and m.start() == 0:
                cut += m.end()
        return "keep", cut

    # Pages are full of no-break spaces; rules are written with plain ones.
    verdicts = [verdict(line.replace("\xa0", " ").strip()) for _, line in spans]
    for i, ((pos, line), (action, cut)) in enumerate(zip(spans, verdicts)):
        stripped = line.strip()
        if not stripped:
            pending_blank = True
            continue
        if action == "stop":
            dropped += sum(1 for _, rest in spans[i:] if rest.strip())
            break
        if action == "drop":
            dropped += 1
            continue
        # A photo caption: the next line repeats it with a credit that a rule drops.
        nxt = next((j for j in range(i + 1, len(spans)) if spans[j][1].strip()), None)
        if nxt is not None and verdicts[nxt][0] == "drop" and spans[nxt][1].strip().startswith(stripped) \
                and len(spans[nxt][1].strip()) > len(stripped):
            dropped += 1
            continue
        # Repeated headline or caption lines carry nothing new.
        if len(stripped) >= 15 and stripped in seen:
            dropped += 1
            continue
        seen.add(stripped)
        lead = len(line) - len(line.lstrip())
        body = line.strip()[cut:].strip()
        if not body:
            dropped += 1
            continue
        offset_in_line = line.index(body, lead)
        kept.append((pos + offset_in_line, body))
        blank_before.append(pending_blank)
        pending_blank = False

    out, segments, cursor = [], [], 0
    for k, ((src, body), blank) in enumerate(zip(kept, blank_before)):
        if k:
            sep = "\n\n" if blank else "\n"
            out.append(sep)
            cursor += len(sep)
        segments.append((cursor, src, len(body)))
        out.append(body)
        cursor += len(body)
    return CleanText("".join(out), segments, dropped)


def visible_chars(text: str) -> int:
    """Characters other than whitespace: what cleaning losses are counted in, since cleaning
    re-joins lines and so changes whitespace without removing anything."""
    return len(_SPACE.sub("", text))


_SPACE = re.compile(r"\s+")


def detect_outlet(text: str) -> str:
    lines = [l.replace("\xa0", " ").strip() for l in text.splitlines() if l.strip()]
    if not lines:
        return ""
    edges = lines[:12] + lines[-8:]
    for scope, pattern in load_outlet_rules():
        for line in (lines[:1] if scope == "title" else edges):
            m = pattern.search(line)
            if m:
                return m.group(1).strip()
    return ""


_MONTHS = ("Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember|"
           "January|February|March|May|June|July|October|December")
_DATE_PATTERNS = [
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(?!\d)"), "iso"),
    (re.compile(r"\b(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})\b"), "dmy"),
    (re.compile(rf"\b(\d{{1,2}})\.?\s({_MONTHS})\s(\d{{4}})\b"), "dMy"),
    (re.compile(rf"\b({_MONTHS})\s(\d{{1,2}}),?\s(\d{{4}})\b"), "Mdy"),
]
_MONTH_NUM = {m: i for i, m in enumerate(
    "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split(), 1)}
_MONTH_NUM.update({m: i for i, m in enumerate(
    "January February March April May June July August September October November December".split(), 1)})
# Words that announce a publication date ("Veröffentlicht am", "Stand:", "Published on").
_DATE_MARKER = re.compile(r"\b(?:zuletzt |last )?(?:veröffentlicht|erschienen|aktualisiert|stand|datum|"
                          r"published|updated|posted|date)(?: am| on| vom)?\b", re.IGNORECASE)
_TIME = re.compile(r"\b\d{1,2}[:.]\d{2}(?:\s?(?:Uhr|h|am|pm))?\b|\bUhr\b|\([^()]{1,30}\)", re.IGNORECASE)
_SEPARATOR = re.compile(r"^\s*[–—|•·-]")


def detect_date(text: str) -> str:
    """The publication date from a dateline near the top of the article ('Veröffentlicht am
    3. März 2024', '12.11.2023 – Berlin', 'BERLIN, 3. März 2024 (dpa) –'), as YYYY-MM-DD, or ''.
    A date inside a sentence ('Am 14. April 2027 startet die Fähre') is what the story is about,
    not when it was published, so it is not taken."""
    for line in text.splitlines()[:8]:
        for pattern, kind in _DATE_PATTERNS:
            for m in pattern.finditer(line):
                date = _date_of(m, kind)
                if date and _is_dateline(line[:m.start()], line[m.end():]):
                    return date
    return ""


def _date_of(m: re.Match, kind: str) -> str:
    if kind == "iso":
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
    elif kind == "dmy":
        d, mo, y = int(m[1]), int(m[2]), int(m[3])
    elif kind == "dMy":
        d, mo, y = int(m[1]), _MONTH_NUM[m[2]], int(m[3])
    else:
        mo, d, y = _MONTH_NUM[m[1]], int(m[2]), int(m[3])
    try:
        date = datetime.date(y, mo, d)
    except ValueError:
        return ""
    # Nothing was published in the future or before newspapers kept dates this way.
    return date.isoformat() if datetime.date(1900, 1, 1) < date <= datetime.date.today() else ""


def _is_dateline(before: str, after: str) -> bool:
    """Around the date stand only date markers, a time, an agency in brackets and place names
    (capitalised words that are not function words): no sentence."""
    before = re.sub(r"\b(?:am|vom|on)\s*$", "", before, flags=re.IGNORECASE)   # "Wien, am 5. Juni 2023"
    if not _only_names(_TIME.sub(" ", _DATE_MARKER.sub(" ", before))):
        return False
    rest = _TIME.sub(" ", after)
    return bool(_SEPARATOR.match(rest)) or _only_names(rest)


def _only_names(text: str) -> bool:
    from .lexical import function_words

    words = re.findall(r"[^\W\d_][\w.'-]*", text)
    stop = function_words()
    return len(words) <= 4 and all(w[0].isupper() and w.lower() not in stop for w in words)


_URL = re.compile(r"https?://[^\s<>\"')\]]+")


def detect_url(text: str) -> str:
    """The article's own URL when the text states it at the top (e.g. 'URL: https://...')."""
    for line in text.splitlines()[:8]:
        m = _URL.search(line)
        if m:
            return m.group(0).rstrip(".,;")
    return ""
