"""Reading article files (.txt, .md, .html) into text plus metadata, with clear refusals."""
from __future__ import annotations

import codecs
import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

SUPPORTED = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}


class UnreadableFile(Exception):
    """The file cannot be ingested; the message says why in one sentence."""


@dataclass
class SourceDoc:
    path: str
    text: str                 # decoded source text (for HTML: the extracted article text)
    sha256: str               # of the file's bytes
    meta: dict = field(default_factory=dict)   # title / date / url / outlet found in markup
    notes: list[str] = field(default_factory=list)   # caveats for the report, e.g. replaced bytes


@dataclass
class Scan:
    files: list[Path]                      # resolved paths to read, in order, no repeats
    problems: list[tuple[str, str]]        # (path, why) for paths given that cannot be used
    folders: list[Path]                    # folders that were walked (resolved)
    skipped: list[tuple[str, str]]         # (path, why) for files in a folder left out on purpose


def discover(paths: list[str | Path]) -> tuple[list[Path], list[tuple[str, str]], list[Path]]:
    """Expand files and folders. Returns (files, problems, folders that were walked)."""
    found = scan(paths)
    return found.files, found.problems, found.folders


def scan(paths: list[str | Path]) -> Scan:
    """Expand files and folders; say which files in a folder are left out and why."""
    found = Scan([], [], [], [])
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            found.problems.append((str(raw), "no such file or folder"))
        elif p.is_dir():
            found.folders.append(p.resolve())
            _walk(p, found)
        elif p.suffix.lower() not in SUPPORTED:
            found.problems.append((str(raw), _unsupported(p)))
        else:
            found.files.append(p.resolve())
    found.files = list(dict.fromkeys(found.files))
    return found


def _unsupported(p: Path) -> str:
    return f"unsupported file type '{p.suffix or '(none)'}' (supported: {', '.join(sorted(SUPPORTED))})"


def _walk(folder: Path, found: Scan) -> None:
    """Files under `folder`. Hidden files and folders are passed over silently (.git, .DS_Store);
    a link that leads out of the folder is not followed: what is outside was not given to ingest,
    and the store could not notice when the link goes away."""
    root = folder.resolve()
    for f in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in f.relative_to(folder).parts):
            continue
        target = f.resolve()
        if f.is_symlink() and not target.is_relative_to(root):
            found.skipped.append((str(f), f"is a link to {target}, outside the folder; links out of a "
                                          f"folder are not followed"))
        elif f.is_file() and f.suffix.lower() not in SUPPORTED:
            found.skipped.append((str(f), _unsupported(f)))
        elif f.is_file():
            found.files.append(target)


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252/Latin-1."""
    return decode_counted(data)[0]


def decode_counted(data: bytes) -> tuple[str, int]:
    """decode(), plus how many invalid UTF-8 sequences were replaced with U+FFFD."""
    if data.startswith(codecs.BOM_UTF8):
        return _utf8_or_legacy(data[len(codecs.BOM_UTF8):], bom=True)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), 0
    if b"\x00" in data[:4096]:
        # UTF-16 without a BOM shows as every other byte being NUL in Latin text.
        even, odd = data[0:4096:2].count(0), data[1:4096:2].count(0)
        sample = min(len(data), 4096) / 2
        if odd > 0.3 * sample and even < 0.05 * sample:
            return data.decode("utf-16-le"), 0
        if even > 0.3 * sample and odd < 0.05 * sample:
            return data.decode("utf-16-be"), 0
        raise UnreadableFile("it looks like a binary file, not text")
    return _utf8_or_legacy(data)


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _utf8_or_legacy(data: bytes, bom: bool = False) -> tuple[str, int]:
    try:
        return data.decode("utf-8"), 0
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="replace")
    replaced = text.count("\ufffd") - data.count("\ufffd".encode("utf-8"))
    valid = len(_NON_ASCII.findall(text)) - text.count("\ufffd")
    # Mostly-valid UTF-8 is UTF-8 with a few bad bytes (a truncated download, a pasted fragment):
    # in a Windows-1252 file nearly every umlaut is an invalid sequence and valid multi-byte
    # sequences practically never occur, so more valid than invalid ones decides.
    if bom or valid > replaced:
        return text, replaced
    try:
        return data.decode("cp1252"), 0
    except UnicodeDecodeError:
        return data.decode("latin-1"), 0


def _looks_binary(text: str) -> bool:
    sample = text[:4096]
    if not sample:
        return False
    bad = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f")
    return bad / len(sample) > 0.02


def read(path: Path, max_bytes: int) -> SourceDoc:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UnreadableFile(f"cannot be read ({e.strerror or e})") from None
    if len(data) > max_bytes:
        raise UnreadableFile(f"is {len(data):,} bytes; the limit is {max_bytes:,}")
    if not data.strip():
        raise UnreadableFile("is empty")
    try:
        text, replaced = decode_counted(data)
    except UnicodeDecodeError:
        raise UnreadableFile("is not readable text in any supported encoding") from None
    if _looks_binary(text):
        raise UnreadableFile("looks like a binary file, not text")
    # Line endings stay as they are (cleaning splits lines on any of them): citation offsets are
    # offsets into the file's text, so a CRLF file must not lose a character per line here.
    kind = SUPPORTED[path.suffix.lower()]
    meta: dict = {}
    if kind == "html":
        text, meta = html_to_text(text)
    elif kind == "markdown":
        text, meta = strip_front_matter(text)
    if len(text.strip()) < 20:
        raise UnreadableFile("has no article text")
    notes = [f"{replaced:,} byte sequence(s) that are not valid UTF-8 were replaced with \ufffd"] if replaced else []
    return SourceDoc(str(path), text, file_hash(data), meta, notes)


_FRONT = re.compile(r"\A---\r?\n(.*?)\r?\n---\r?\n", re.S)


def strip_front_matter(text: str) -> tuple[str, dict]:
    """Markdown front matter (title/date/url/outlet) becomes metadata; the rest stays verbatim.

    The front matter is blanked with spaces rather than cut so that offsets stay file offsets."""
    m = _FRONT.match(text)
    meta = {}
    if m:
        for line in m.group(1).splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key in {"title", "date", "url", "outlet", "source"} and value.strip():
                meta["outlet" if key == "source" else key] = value.strip().strip("\"'")
        text = re.sub(r"[^\r\n]", " ", m.group(0)) + text[m.end():]
    # Markdown headings and emphasis markers are layout, not words.
    text = re.sub(r"(?m)^(#{1,6}) ", lambda mm: " " * len(mm.group(0)), text)
    return text, meta


def publication_date(html: str, url: str = "") -> str:
    """The page's publication date from its metadata (meta tags, JSON-LD, marked-up bylines, a date
    in its URL), as YYYY-MM-DD, or ''. htmldate's extensive search, which guesses from dates in
    the body text, stays off: a date the story mentions is not the day it was published."""
    import lxml.html
    from htmldate import find_date

    try:
        # A parsed tree, never the string: htmldate would download a string that looks like a URL.
        tree = lxml.html.document_fromstring(html)
        # A <time> inside running text marks a date the story talks about, not the byline's.
        for el in tree.xpath("//p//time | //li//time | //blockquote//time | //td//time"):
            el.drop_tree()
        return find_date(tree, url=url or None, extensive_search=False, original_date=True,
                         outputformat="%Y-%m-%d", min_date="1900-01-01") or ""
    except Exception as e:   # a page htmldate cannot parse has no known date; the text still counts
        log.info("no publication date read from the page markup (%s)", type(e).__name__)
        return ""


def html_to_text(html: str) -> tuple[str, dict]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    meta = {}

    def metaprop(*names):
        for n in names:
            tag = soup.find("meta", attrs={"property": n}) or soup.find("meta", attrs={"name": n})
            if tag and tag.get("content"):
                return tag["content"].strip()
        return ""

    title = metaprop("og:title") or (soup.title.get_text(" ", strip=True) if soup.title else "")
    h1 = soup.find("h1")
    if h1 and h1.get_text(strip=True):
        title = h1.get_text(" ", strip=True)
    meta["title"] = title
    meta["outlet"] = metaprop("og:site_name", "publisher")
    canonical = soup.find("link", rel="canonical")
    meta["url"] = (canonical.get("href", "") if canonical else "") or metaprop("og:url")
    meta["date"] = publication_date(html, meta["url"])
    for tag in soup(["script", "style", "noscript", "nav", "footer", "aside", "form", "header",
                     "iframe", "svg", "button", "template"]):
        tag.decompose()
    root = soup.find("article") or soup.find("main") or soup.body or soup
    blocks = []
    for el in root.find_all(["h1", "h2", "h3", "h4", "p", "li", "blockquote", "pre"]):
        if el.find_parent(["p", "li", "blockquote"]) is not None:
            continue
        txt = " ".join(el.get_text(" ", strip=True).split())
        if txt:
            blocks.append(txt)
    if not blocks:
        blocks = [" ".join(line.split()) for line in root.get_text("\n").splitlines() if line.strip()]
    if title and (not blocks or blocks[0] != title):
        blocks.insert(0, title)
    return "\n\n".join(blocks), {k: v for k, v in meta.items() if v}
