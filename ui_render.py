"""Pure HTML rendering for the browser chat (app.py): answers with clickable [n] markers, the
sources panel with highlighted quotes, and small input checks. No Gradio, no models.

Everything that comes from an article, a file name or a question is untrusted. It is escaped here
and only here, so app.py never builds HTML from raw text. Besides the HTML specials, the characters
that Markdown, KaTeX and Gradio's HTML templates treat as syntax are written as numeric entities:
the browser shows them as the same characters, but no renderer sees `*`, `[`, `$`, `{` as markup.
"""
from __future__ import annotations

import html
import json
import re
from datetime import date
from pathlib import PurePath
from urllib.parse import urlsplit

from rag import lang as langs
from rag.render import word_for_word_note

# Markdown (emphasis, links, headings, code, tables, strikethrough), KaTeX ($) and the template
# syntax of gr.HTML (${...}, {{...}}).
# Decimal entities throughout: the chat's Markdown pipeline shows hex ones (&#x27;) literally.
_SPECIAL = {c: f"&#{ord(c)};" for c in "&<>\"'\\`*_[]#~|${}"}
_SPECIAL_RE = re.compile("[" + re.escape("".join(_SPECIAL)) + "]")

# [1], [2, 3], [1,2]: the citation markers the assistant writes.
MARKER_RE = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")

LABELS = {
    "en": {
        "sources": "Sources",
        "empty": "Sources for the latest answer appear here.",
        "no_answer": "No answer in the articles.",
        "no_answer_detail": "The articles don't answer this question. These are the closest passages found:",
        "nothing_found": "No passages matched (check the filters).",
        "other": "Other retrieved passages",
        "file": "File",
        "quote_not_found": "Quoted",
        "language": "Answer language",
        "auto": "auto-detected",
        "chosen": "chosen in Settings",
        "mode": "Mode",
        "searched": "Searched for",
        "names": {"de": "German", "en": "English"},
        "unverified": "Removed: the sources do not support",
        "claims": "Claim check",
        "verified": "supported",
        "repointed": "supported by another source than the one cited",
        "removed": "not supported, removed",
        "word_for_word": "Title word for word",
    },
    "de": {
        "sources": "Quellen",
        "empty": "Die Quellen der letzten Antwort erscheinen hier.",
        "no_answer": "Keine Antwort in den Artikeln.",
        "no_answer_detail": "Die Artikel beantworten diese Frage nicht. Das sind die nächstliegenden Passagen:",
        "nothing_found": "Keine passenden Passagen gefunden (Filter prüfen).",
        "other": "Weitere gefundene Passagen",
        "file": "Datei",
        "quote_not_found": "Zitat",
        "language": "Antwortsprache",
        "auto": "automatisch erkannt",
        "chosen": "in den Einstellungen gewählt",
        "mode": "Modus",
        "searched": "Gesucht nach",
        "names": {"de": "Deutsch", "en": "Englisch"},
        "unverified": "Entfernt, von den Quellen nicht belegt",
        "claims": "Prüfung der Aussagen",
        "verified": "belegt",
        "repointed": "von einer anderen als der genannten Quelle belegt",
        "removed": "nicht belegt, entfernt",
        "word_for_word": "Titel Wort für Wort",
    },
}


def labels(lang: str) -> dict:
    return LABELS.get(lang, LABELS["en"])


# --- escaping ---------------------------------------------------------------------------------
def escape(text: str) -> str:
    """Text -> HTML that shows exactly `text` and is inert for HTML, Markdown and templates."""
    return _SPECIAL_RE.sub(lambda m: _SPECIAL[m.group(0)], str(text or ""))


def escape_lines(text: str) -> str:
    """Like escape(), with line breaks as <br>: chat bubbles must not contain raw newlines, since a
    blank line would end the HTML block and hand the rest to the Markdown renderer."""
    lines = str(text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "<br>".join(escape(line) for line in lines)


def safe_url(url: str) -> str:
    """The URL if it is a plain http(s) link, else '' (no javascript:, data:, relative tricks)."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return ""
    return url


def source_id(turn: int, n: int) -> str:
    return f"src-{int(turn)}-{int(n)}"


# --- chat bubbles -----------------------------------------------------------------------------
def _marker_links(numbers: str, turn: int, valid: set[int] | None) -> str:
    parts = []
    for raw in numbers.split(","):
        n = int(raw.strip())
        if valid is None or n in valid:
            parts.append(f'<a class="rag-cite" href="#{source_id(turn, n)}" title="Show source {n}">'
                         f'&#91;{n}&#93;</a>')
        else:
            parts.append(f"&#91;{n}&#93;")
    return "".join(parts)


def answer_html(text: str, turn: int, valid: set[int] | None = None, css_class: str = "rag-answer") -> str:
    """An answer for the chat: escaped, with each [n] a link to source n of this turn.

    `valid` limits links to markers that have a source; None links all (while streaming). The
    word-for-word English after a German quote is set apart (`rag-gloss`): a reading aid, not
    the answer's own words."""
    out, pos = [], 0
    for m in langs.word_for_word_pattern().finditer(text or ""):
        out.append(_with_marker_links(text[pos:m.start()], turn, valid))
        out.append(f'<span class="rag-gloss">{escape_lines(m.group(0))}</span>')
        pos = m.end()
    out.append(_with_marker_links((text or "")[pos:], turn, valid))
    # The turn goes into a class: the chat's sanitizer drops data-* attributes.
    return f'<div class="{css_class} rag-turn-{int(turn)}">{"".join(out)}</div>'


def _with_marker_links(text: str, turn: int, valid: set[int] | None) -> str:
    out, pos = [], 0
    for m in MARKER_RE.finditer(text):
        out.append(escape_lines(text[pos:m.start()]))
        out.append(_marker_links(m.group(1), turn, valid))
        pos = m.end()
    out.append(escape_lines(text[pos:]))
    return "".join(out)


def unverified_html(answer) -> str:
    """Under an LLM answer: the claims the citation check removed, struck through, so the user
    sees what the model said and that the sources do not back it."""
    gone = [c for c in getattr(answer, "claims", []) or [] if not c.verified]
    if not gone:
        return ""
    lab = labels(answer.language)
    items = "".join(f'<div class="rag-claim-bad">&#10007; <span class="rag-struck">{escape(c.text)}</span></div>'
                    for c in gone)
    return f'<div class="rag-unverified">{lab["unverified"]}:{items}</div>'


def claims_html(answer, lab: dict) -> str:
    """Every checked claim of an LLM answer with its verdict and support score."""
    claims = getattr(answer, "claims", []) or []
    if not claims:
        return ""
    rows = []
    for c in claims:
        verdict = lab["removed"] if not c.verified else lab["repointed"] if c.status == "repointed" \
            else lab["verified"]
        cites = "".join(f"&#91;{n}&#93;" for n in c.citations)
        if c.verified:
            row = f'<div class="rag-claim-ok">&#10003; {escape(c.text)} {cites}'
        else:
            row = f'<div class="rag-claim-bad">&#10007; <span class="rag-struck">{escape(c.text)}</span>'
        rows.append(f'{row} <span class="rag-meta">{escape(verdict)} · {c.score:.2f}</span></div>')
    return f'<details class="rag-claims"><summary>{lab["claims"]}</summary>{"".join(rows)}</details>'


def user_html(text: str) -> str:
    return f'<div class="rag-question">{escape_lines(text)}</div>'


def error_html(message: str) -> str:
    return f'<div class="rag-error">&#9888; {escape_lines(message)}</div>'


def notice_html(message: str) -> str:
    return f'<div class="rag-notice">{escape_lines(message)}</div>'


def pending_html() -> str:
    """The assistant's bubble before the first words arrive."""
    return '<div class="rag-pending">&#8230;</div>'


# --- quote highlighting -----------------------------------------------------------------------
def find_quote(text: str, quote: str) -> tuple[int, int] | None:
    """Where `quote` stands in `text`: exactly, else ignoring whitespace and case differences
    (an LLM may reflow a quote). None if it is not there."""
    quote = (quote or "").strip()
    if not quote or not text:
        return None
    i = text.find(quote)
    if i >= 0:
        return i, i + len(quote)
    words = quote.split()
    pattern = re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)
    m = pattern.search(text)
    return (m.start(), m.end()) if m else None


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def highlight(text: str, spans: list[tuple[int, int]]) -> str:
    """Escaped `text` with each span wrapped in <mark>."""
    out, pos = [], 0
    clipped = [(max(0, s), min(len(text), e)) for s, e in spans]
    for s, e in merge_spans([(s, e) for s, e in clipped if e > s]):
        out.append(escape(text[pos:s]))
        out.append(f'<mark class="rag-quote">{escape(text[s:e])}</mark>')
        pos = e
    out.append(escape(text[pos:]))
    return "".join(out)


# --- sources panel ----------------------------------------------------------------------------
def _meta_line(outlet: str, title: str, date_: str, source: str, url: str, lab: dict,
               title_english: str = "") -> str:
    name = PurePath(source).name if source else ""
    bits = []
    if outlet:
        bits.append(f'<span class="rag-outlet">{escape(outlet)}</span>')
    if date_:
        bits.append(f'<span class="rag-date">{escape(date_)}</span>')
    if name:
        bits.append(f'<span class="rag-file" title="{escape(source)}">{lab["file"]}: {escape(name)}</span>')
    link = safe_url(url)
    title_html = escape(title or name or "?")
    if link:
        title_html = f'<a href="{escape(link)}" target="_blank" rel="noopener noreferrer nofollow">{title_html}</a>'
    # An English answer's German title word for word, set apart as the quotes' gloss is.
    gloss = (f'<div class="rag-title-gloss"><span class="rag-gloss">{escape(lab["word_for_word"])}: '
             f'{escape(title_english)}</span></div>') if title_english else ""
    return (f'<div class="rag-title">{title_html}</div>{gloss}'
            f'<div class="rag-meta">{" · ".join(bits)}</div>')


def _passage_block(text: str, spans: list[tuple[int, int]]) -> str:
    return f'<blockquote class="rag-passage">{highlight(text, spans)}</blockquote>'


def citation_cards(answer, turn: int, lab: dict) -> list[str]:
    """One card per [n]: its article and each cited passage with the quote marked."""
    passages = {p.chunk_id: p for p in answer.passages}
    by_n: dict[int, list] = {}
    for c in answer.citations:
        by_n.setdefault(c.n, []).append(c)
    cards = []
    for n in sorted(by_n):
        cites = by_n[n]
        first = cites[0]
        blocks, chunk_spans, loose = [], {}, []
        for c in cites:
            p = passages.get(c.chunk_id)
            span = find_quote(p.text, c.quote) if p else None
            if p is not None and span is not None:
                chunk_spans.setdefault(c.chunk_id, []).append(span)
            elif p is not None:
                chunk_spans.setdefault(c.chunk_id, [])
                loose.append(c.quote)
            else:
                # No retrieved passage to show it in: the quote itself is the passage.
                loose.append(c.quote)
        for cid, spans in chunk_spans.items():
            blocks.append(_passage_block(passages[cid].text, spans))
        for q in loose:
            blocks.append(f'<blockquote class="rag-passage">{lab["quote_not_found"]}: '
                          f'<mark class="rag-quote">{escape(q)}</mark></blockquote>')
        date_ = first.date or next((passages[c.chunk_id].date for c in cites if c.chunk_id in passages), "")
        meta = _meta_line(first.outlet, first.title, date_, first.source, first.url, lab,
                          getattr(first, "title_english", ""))
        cards.append(
            f'<div class="rag-source" id="{source_id(turn, n)}">'
            f'<div class="rag-num">&#91;{n}&#93;</div>'
            f'{meta}'
            f'{"".join(blocks)}</div>')
    return cards


def passage_cards(passages: list, lab: dict, limit: int | None = None) -> list[str]:
    cards = []
    for p in passages[:limit]:
        cards.append(f'<div class="rag-source rag-context">'
                     f'{_meta_line(p.outlet, p.title, p.date, p.source, p.url, lab)}'
                     f'{_passage_block(p.text, [])}</div>')
    return cards


def empty_sources_html() -> str:
    return f'<div class="rag-sources rag-empty">{escape(LABELS["en"]["empty"])}</div>'


def pending_sources_html() -> str:
    return '<div class="rag-sources rag-pending">Looking for sources &#8230;</div>'


def sources_html(answer, turn: int, auto_language: bool = True, asked: str = "") -> str:
    """The panel beside the chat for one answer (duck-typed rag.Answer). `asked` is the question as
    typed; when the assistant searched for a rewritten one (a follow-up), the panel shows it."""
    lab = labels(answer.language)
    lang_name = lab["names"].get(answer.language, answer.language)
    how = lab["auto"] if auto_language else lab["chosen"]
    head = (f'<div class="rag-panel-head"><b>{lab["sources"]}</b> · {lab["language"]}: '
            f'<span class="rag-lang" data-lang="{escape(answer.language)}">{escape(lang_name)}</span>'
            f' ({how}) · {lab["mode"]}: {escape(answer.mode)}</div>')
    parts = [head]
    searched = " ".join((getattr(answer, "question", "") or "").split())
    if asked and searched and searched != " ".join(asked.split()):
        parts.append(f'<div class="rag-searched">{lab["searched"]}: <q>{escape(searched)}</q></div>')
    if getattr(answer, "notice", ""):
        parts.append(notice_html(answer.notice))
    if claims_html(answer, lab):
        parts.append(claims_html(answer, lab))
    cited = {c.chunk_id for c in answer.citations}
    if answer.abstained or not answer.citations:
        parts.append(f'<div class="rag-abstain"><b>{lab["no_answer"]}</b> ')
        if answer.passages:
            parts[-1] += f'{lab["no_answer_detail"]}</div>'
            parts += passage_cards(answer.passages, lab, limit=3)
        else:
            parts[-1] += f'{lab["nothing_found"]}</div>'
        if answer.citations:
            parts += citation_cards(answer, turn, lab)
    else:
        parts += citation_cards(answer, turn, lab)
        others = [p for p in answer.passages if p.chunk_id not in cited]
        if others:
            parts.append(f'<details class="rag-others"><summary>{lab["other"]} ({len(others)})</summary>'
                         + "".join(passage_cards(others, lab)) + "</details>")
    return f'<div class="rag-sources" data-turn="{int(turn)}">{"".join(parts)}</div>'


# --- small input checks and tables ------------------------------------------------------------
def check_date(value: str, label: str) -> str:
    """'' or a valid YYYY-MM-DD; anything else raises ValueError with a sentence for the user."""
    value = (value or "").strip()
    if not value:
        return ""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise ValueError(f"The {label} date '{value[:40]}' is not a date like 2024-05-31.")


def article_rows(articles: list[dict]) -> list[list]:
    """Rows for the articles table (plain strings: the table shows them as text)."""
    return [[a.get("title", ""), a.get("outlet", ""), a.get("date", ""), int(a.get("chunks", 0)),
             PurePath(a.get("source", "")).name] for a in articles]


def article_choices(articles: list[dict]) -> list[tuple[str, str]]:
    """(label, source) pairs for the delete picker."""
    out = []
    for a in articles:
        name = PurePath(a.get("source", "")).name
        title = (a.get("title") or "").strip()
        out.append((f"{name} — {title[:80]}" if title else name, a.get("source", "")))
    return out


def outlet_choices(articles: list[dict]) -> list[str]:
    return sorted({a.get("outlet", "") for a in articles if a.get("outlet")}, key=str.lower)


def format_bytes(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB"
    if n >= 1_000:
        return f"{n / 1_000:.0f} kB"
    return f"{n} bytes"


_INFO_LABELS = [("mode", "Answer mode"), ("llm", "LLM in use"), ("embedding_model", "Embedding model"),
                ("embedding_backend", "Embedding backend"), ("embedding_precision", "Embedding precision"),
                ("store", "Store"), ("chunks", "Passages (chunks) stored"),
                ("top_k", "Default passages per question")]


def info_html(info: dict, n_articles: int) -> str:
    """The read-only part of the Settings tab: what answers and retrieves, from Assistant.info()."""
    info = dict(info or {})
    rows = [("Articles stored", n_articles)]
    for key, label in _INFO_LABELS:
        if key in info:
            value = info.pop(key)
            if key == "llm" and not value:
                value = "none: answers quote the articles verbatim (extractive mode)"
            rows.append((label, value))
    rows += sorted(info.items())   # whatever else the library reports, shown as it is
    body = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    return f'<table class="rag-info">{body}</table>'


def status_html(info: dict, n_articles: int) -> str:
    """One line under the title: mode, LLM and store size."""
    llm = (info or {}).get("llm") or "none"
    return (f'<div class="rag-status">Mode: <b>{escape(str((info or {}).get("mode", "?")))}</b> · '
            f'LLM: {escape(str(llm))} · {int(n_articles)} articles, '
            f'{escape(str((info or {}).get("chunks", "?")))} passages</div>')


# --- answer actions: copy, feedback, download (the record travels inside the answer bubble) ----
# The finished answer's bubble carries its record (question, answer, cited passages) as escaped
# JSON in a hidden element: the copy button copies its plain text, and the thumbs and the
# conversation download read it back from the chat's messages, so no extra state is kept.
_RECORD_RE = re.compile(r'<div class="rag-record">(.*?)</div>', re.DOTALL)


def answer_record(question: str, answer) -> dict:
    """What copy, feedback and download need of one answer (duck-typed rag.Answer)."""
    passages = {p.chunk_id: p for p in answer.passages}
    sources = []
    for c in answer.citations:
        p = passages.get(c.chunk_id)
        sources.append(dict(n=c.n, title=c.title, outlet=c.outlet, date=c.date or (p.date if p else ""),
                            source=c.source, url=c.url, quote=c.quote, passage=p.text if p else c.quote,
                            title_english=getattr(c, "title_english", "")))
    record = dict(question=question, answer=answer.text, language=answer.language, mode=answer.mode,
                  abstained=answer.abstained, sources=sources)
    record["copy"] = copy_text(record)
    return record


def _source_line(s: dict) -> str:
    """"[n] title (outlet, date): address"; an English answer's German title is followed by its
    word-for-word English, as in the sources panel."""
    where = ", ".join(x for x in (s.get("outlet"), s.get("date")) if x)
    note = word_for_word_note(s.get("title_english", ""), "en")
    gloss = f" {note}" if note else ""
    return f"[{s['n']}] {s.get('title') or s.get('source')}{gloss}" + (f" ({where})" if where else "") \
        + f": {s.get('url') or s.get('source')}"


def copy_text(record: dict) -> str:
    """The answer as plain text with its [n] markers, then one line per source."""
    lines = [record["answer"].strip()]
    if record.get("sources"):
        lines += ["", "Quellen:" if record.get("language") == "de" else "Sources:"]
        seen = set()
        for s in record["sources"]:
            if s["n"] not in seen:
                seen.add(s["n"])
                lines.append(_source_line(s))
    return "\n".join(lines)


def actions_html(record: dict) -> str:
    """Copy button and the hidden record, appended to a finished answer's bubble."""
    data = escape(json.dumps(record, ensure_ascii=False))   # json.dumps leaves no raw newline
    return ('<div class="rag-actions"><button type="button" class="rag-copy" '
            'title="Copy the answer with its sources">Copy</button></div>'
            f'<div class="rag-record">{data}</div>')


def record_from_html(content) -> dict | None:
    """The record inside an answer bubble, or None (a question, an error, an unfinished answer)."""
    if isinstance(content, dict):   # Gradio may hand back {"type": "text", "text": ...}
        content = content.get("text") or content.get("value") or ""
    if isinstance(content, list):
        content = " ".join(str(c.get("text", "")) if isinstance(c, dict) else str(c) for c in content)
    m = _RECORD_RE.search(str(content or ""))
    if not m:
        return None
    try:
        record = json.loads(html.unescape(m.group(1)))
    except ValueError:
        return None
    return record if isinstance(record, dict) and "answer" in record else None


def conversation_markdown(messages: list) -> str:
    """The conversation as Markdown: each question, its answer and the passages it cites."""
    out = []
    for m in messages or []:
        role = m.get("role") if isinstance(m, dict) else getattr(m, "role", "")
        record = record_from_html(m.get("content") if isinstance(m, dict) else getattr(m, "content", ""))
        if role != "assistant" or record is None:
            continue
        out += [f"## {record['question']}", "", record["answer"].strip(), ""]
        for s in record.get("sources", []):
            out.append(f"**{_source_line(s)}**")
            out += ["", *("> " + line for line in (s.get("passage") or s["quote"]).strip().splitlines()), ""]
            if s.get("quote") and s["quote"] not in (s.get("passage") or ""):
                out += [f"Zitat / quote: „{s['quote']}“", ""]
    if not out:
        return ""
    return "# News Q&A conversation\n\n" + "\n".join(out).rstrip() + "\n"


# --- page assets (passed to launch(css=..., head=...)) ------------------------------------------
CSS = """
#sources { max-height: 78vh; overflow-y: auto; }
.rag-source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px;
  margin: 8px 0; scroll-margin: 12px; }
.rag-num { float: left; font-weight: 700; margin-right: 6px; }
.rag-title { font-weight: 600; }
.rag-meta { font-size: 0.85em; opacity: 0.8; }
.rag-passage { white-space: pre-wrap; margin: 6px 0 0; padding: 2px 0 2px 8px; font-size: 0.92em;
  border-left: 3px solid var(--border-color-accent, #f97316); }
mark.rag-quote { background: #ffe566; color: #111; padding: 0 1px; }
.rag-gloss { font-style: italic; opacity: 0.75; }
a.rag-cite { font-weight: 600; text-decoration: none; cursor: pointer; color: var(--link-text-color, #2563eb); }
.rag-flash { animation: rag-flash 1.6s ease-out; }
@keyframes rag-flash { from { box-shadow: 0 0 0 3px #f97316; } to { box-shadow: 0 0 0 0 transparent; } }
.rag-error { color: var(--error-text-color, #b91c1c); }
.rag-abstain { margin: 6px 0; }
.rag-notice { font-size: 0.9em; opacity: 0.85; margin: 4px 0; }
.rag-pending { opacity: 0.6; }
.rag-unverified, .rag-claims { font-size: 0.88em; margin: 4px 0; }
.rag-claim-bad { color: var(--error-text-color, #b91c1c); }
.rag-struck { text-decoration: line-through; }
.rag-panel-head, .rag-status, .rag-searched { font-size: 0.9em; }
.rag-info th { text-align: left; padding-right: 12px; }
.rag-record { display: none; }
.rag-actions { margin-top: 6px; }
button.rag-copy { font-size: 0.8em; padding: 1px 8px; border: 1px solid var(--border-color-primary);
  border-radius: 6px; background: transparent; cursor: pointer; }
"""

# [n] links sit inside the chat's Markdown, which may open links elsewhere: intercept them and
# scroll the sources panel instead.
HEAD = """<script>
document.addEventListener('click', function (ev) {
  var a = ev.target && ev.target.closest ? ev.target.closest('a.rag-cite') : null;
  if (!a) return;
  ev.preventDefault(); ev.stopPropagation();
  var id = (a.getAttribute('href') || '').replace(/^#/, '');
  var el = id ? document.getElementById(id) : null;
  if (!el) return;
  el.scrollIntoView({behavior: 'smooth', block: 'center'});
  el.classList.remove('rag-flash'); void el.offsetWidth; el.classList.add('rag-flash');
}, true);
// Copy: the answer's plain text and source list from its record, never the bubble's HTML.
document.addEventListener('click', function (ev) {
  var b = ev.target && ev.target.closest ? ev.target.closest('button.rag-copy') : null;
  if (!b) return;
  ev.preventDefault(); ev.stopPropagation();
  var holder = b.parentElement && b.parentElement.parentElement;
  var rec = holder ? holder.querySelector('.rag-record') : null;
  if (!rec) return;
  var text = JSON.parse(rec.textContent).copy;
  var done = function () { b.textContent = 'Copied'; setTimeout(function () { b.textContent = 'Copy'; }, 1500); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done);
  } else {   // plain http on another host: the clipboard API is unavailable there
    var t = document.createElement('textarea'); t.value = text; document.body.appendChild(t);
    t.select(); document.execCommand('copy'); t.remove(); done();
  }
}, true);
</script>"""
