"""Evaluation data: XQuAD (German paragraphs, German and English questions), 10kGNAD articles as
distractors, and gold-answer sets in JSONL. Loaders plus the folders of .txt files that the
pipeline ingests, so the evaluated path is the one users take."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..results import RagError
from ..settings import PROJECT_ROOT

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
DEFAULT_XQUAD = SHARED_DATA / "xquad"
DEFAULT_GNAD = SHARED_DATA / "10kgnad" / "test.csv"
GOLD_DIR = PROJECT_ROOT / "eval" / "gold"
# The seed gold set comes in two files (gold_split): rules and thresholds may look at dev only;
# reports and the CI gate use test.
DEFAULT_GOLD = GOLD_DIR / "seeds-test.jsonl"
DEV_GOLD = GOLD_DIR / "seeds-dev.jsonl"


class EvalError(RagError):
    """Bad evaluation input; the message is one sentence for the user."""


@dataclass(frozen=True)
class Paragraph:
    id: str          # "AA-PP": article and paragraph index in the XQuAD file; also the file stem
    title: str
    text: str


@dataclass(frozen=True)
class XQuestion:
    id: str
    paragraph_id: str
    lang: str
    question: str
    answers: tuple[str, ...]
    # Where the first answer starts in the paragraph of the question's own file: the German
    # paragraph (the corpus) for German questions, the parallel English paragraph
    # (ParallelParagraph.en) for English ones.
    answer_starts: tuple[int, ...] = ()


@dataclass
class XQuad:
    paragraphs: list[Paragraph]
    questions: dict[str, list[XQuestion]]    # lang -> questions, in file order


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise EvalError(f"The XQuAD file '{path}' does not exist (see --xquad).")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise EvalError(f"The XQuAD file '{path}' is not valid JSON ({e}).") from None


def load_xquad(folder: str | Path = DEFAULT_XQUAD, langs: tuple[str, ...] = ("de", "en")) -> XQuad:
    """German paragraphs are the corpus; questions in every language are tied to them by id
    (XQuAD question ids are identical across languages)."""
    folder = Path(folder)
    de = _read_json(folder / "xquad.de.json")
    paragraphs: list[Paragraph] = []
    paragraph_of: dict[str, str] = {}
    questions: dict[str, list[XQuestion]] = {lang: [] for lang in langs}
    for ai, article in enumerate(de["data"]):
        title = article.get("title", "").replace("_", " ")
        for pi, p in enumerate(article["paragraphs"]):
            pid = f"{ai:02d}-{pi:02d}"
            paragraphs.append(Paragraph(pid, title, p["context"]))
            for qa in p["qas"]:
                paragraph_of[qa["id"]] = pid
    for lang in langs:
        data = de if lang == "de" else _read_json(folder / f"xquad.{lang}.json")
        for article in data["data"]:
            for p in article["paragraphs"]:
                for qa in p["qas"]:
                    if qa["id"] not in paragraph_of:
                        raise EvalError(f"XQuAD question {qa['id']} ({lang}) has no German paragraph.")
                    answers = tuple(dict.fromkeys(a["text"] for a in qa.get("answers", [])))
                    starts = tuple(int(a["answer_start"]) for a in qa.get("answers", [])[:1]
                                   if "answer_start" in a)
                    questions[lang].append(XQuestion(qa["id"], paragraph_of[qa["id"]], lang,
                                                     qa["question"].strip(), answers, starts))
    return XQuad(paragraphs, questions)


def xquad_split(article_index: int) -> str:
    """"dev" or "test" for an XQuAD article (its index in the file, 0-47): even indices are dev,
    odd are test. Everything trained, written as a rule or chosen as a threshold uses dev; reports
    and the CI gate measure test (docs/eval.md)."""
    return "dev" if article_index % 2 == 0 else "test"


def split_of(question_or_paragraph) -> str:
    """The split of an XQuestion or a Paragraph (ids start with the two-digit article index)."""
    pid = getattr(question_or_paragraph, "paragraph_id", None) or question_or_paragraph.id
    return xquad_split(int(pid[:2]))


def held_out(paragraph: Paragraph) -> bool:
    """Test paragraphs left out of the answer-quality store: their questions are the unanswerable
    set (the rest of the same Wikipedia article stays in the store, so they are near-topic)."""
    return split_of(paragraph) == "test" and int(paragraph.id[3:]) % 2 == 1


def subset(questions: list[XQuestion], n: int | None, salt: str = "rag-eval") -> list[XQuestion]:
    """A fixed pseudo-random subset: the n questions whose hashed ids sort first. The same ids are
    picked in every language, so German and English subsets stay paired."""
    if n is None or n >= len(questions):
        return list(questions)
    key = lambda q: hashlib.sha1(f"{salt}:{q.id}".encode()).hexdigest()
    return sorted(sorted(questions, key=key)[:n], key=lambda q: q.id)


@dataclass(frozen=True)
class GnadArticle:
    id: str
    label: str
    text: str


def load_gnad(path: str | Path = DEFAULT_GNAD, limit: int | None = None) -> list[GnadArticle]:
    """10kGNAD lines are `label;'text'` with ' as the quote character."""
    path = Path(path)
    if not path.is_file():
        raise EvalError(f"The 10kGNAD file '{path}' does not exist (see --gnad).")
    out = []
    rows = csv.reader(io.StringIO(path.read_text(encoding="utf-8")), delimiter=";", quotechar="'")
    for i, row in enumerate(rows):
        if len(row) < 2 or not row[1].strip():
            continue
        out.append(GnadArticle(f"gnad-{i:04d}", row[0], ";".join(row[1:]).strip()))
        if limit is not None and len(out) >= limit:
            break
    return out


def write_corpus(folder: Path, docs: dict[str, str]) -> list[Path]:
    """Write {stem: text} as stem.txt, touching only files whose text changed (the pipeline's
    ingest is incremental by content hash, so an unchanged corpus is not re-embedded). Stray .txt
    files from an earlier corpus version are removed."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, text in docs.items():
        p = folder / f"{stem}.txt"
        if not p.exists() or p.read_text(encoding="utf-8") != text:
            p.write_text(text, encoding="utf-8")
        paths.append(p.resolve())
    wanted = {p.name for p in paths}
    for p in folder.glob("*.txt"):
        if p.name not in wanted:
            p.unlink()
    return paths


XQUAD_NOTICE = """These files are the German paragraphs of XQuAD (google-deepmind/xquad), one paragraph per
file with its article title as the first line, written by rag/evaluation for retrieval tests.
XQuAD is licensed under CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/); the
licence text is in LICENSE-CC-BY-SA-4.0 next to this file.
"""

GNAD_NOTICE = """These files are the articles of the 10kGNAD test split (tblock/10kGNAD; articles from the
Austrian newspaper DER STANDARD, via the One Million Posts Corpus), one article per file with its
teaser sentence on the first line, written by rag/evaluation for benchmarks and as distractors.
The data set is licensed under CC BY-NC-SA 4.0 (https://creativecommons.org/licenses/by-nc-sa/4.0/):
attribution, non-commercial use only, share alike.
"""


def opaque_name(doc_id: str) -> str:
    """A file stem that says nothing about where a document comes from. llama-index embeds each
    file's path with its text, so in a corpus mixing two data sets, folder or file names such as
    'xquad-de/03-02' versus '10kgnad/gnad-0001' would tell the peer which documents are the
    relevant kind."""
    return "doc-" + hashlib.sha1(f"rag-eval:{doc_id}".encode()).hexdigest()[:12]


def write_notice(folder: Path, notice: str, licence_file: Path | None = None) -> None:
    """Licence and attribution travel with every copy of the data. No .txt/.md suffix, so the
    notices are never ingested as articles."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "NOTICE").write_text(notice, encoding="utf-8")
    if licence_file is not None and licence_file.is_file():
        target = folder / ("LICENSE-" + licence_file.stem.replace("CC-BY-SA4.0", "CC-BY-SA-4.0"))
        if not target.exists():
            target.write_bytes(licence_file.read_bytes())


def xquad_docs(paragraphs: list[Paragraph]) -> dict[str, str]:
    # The title line gives each paragraph a headline, as a news article has.
    return {p.id: f"{p.title}\n\n{p.text}\n" for p in paragraphs}


def paragraphs_in_articles(paragraphs: list[Paragraph], articles: list[GnadArticle]) -> dict[str, str]:
    """Each XQuAD paragraph, under its title line, appended to the end of a different 10kGNAD
    article (in file order): the answer then sits deep inside a long news article, as answers in
    an archive often do, rather than in a short document of its own. Keyed by paragraph id."""
    if len(articles) < len(paragraphs):
        raise EvalError(f"Placing {len(paragraphs)} paragraphs inside articles needs as many 10kGNAD "
                        f"articles; the file has {len(articles)}.")
    hosts = gnad_docs(articles[:len(paragraphs)])
    return {p.id: f"{host.rstrip()}\n\n{p.title}\n\n{p.text}\n"
            for p, host in zip(paragraphs, hosts.values())}


_TEASER_END = re.compile(r"(?<=[^\W\d_]{3}[.!?])\s+(?=[A-ZÄÖÜ])")


def gnad_docs(articles: list[GnadArticle]) -> dict[str, str]:
    """10kGNAD stores an article as one line whose first sentence is the teaser DER STANDARD
    prints above the text; it goes on a line of its own, as the headline of a news page would."""
    out = {}
    for a in articles:
        m = _TEASER_END.search(a.text, 20, 300)
        out[a.id] = (f"{a.text[:m.start()]}\n\n{a.text[m.end():]}\n" if m else a.text + "\n")
    return out


def cleaning_losses(docs: dict[str, str]) -> list[dict]:
    """Documents from which the boilerplate rules would remove text: evaluation paragraphs must
    reach the index whole, or a retrieval miss could be a cleaning artefact."""
    from ..cleaning import clean

    out = []
    for stem, text in docs.items():
        cleaned = clean(text)
        kept = re.sub(r"\s+", "", cleaned.text)
        full = re.sub(r"\s+", "", text)
        if kept != full:
            out.append({"doc": stem, "chars_lost": len(full) - len(kept),
                        "share": round((len(full) - len(kept)) / max(len(full), 1), 4),
                        "dropped_lines": cleaned.dropped_lines})
    return out


# --- gold answer sets -------------------------------------------------------------------------
@dataclass
class GoldItem:
    id: str
    question: str
    lang: str
    answers: list[str] = field(default_factory=list)   # alternative short answers, any may match
    sources: list[str] = field(default_factory=list)   # article files that support the answer
    answerable: bool = True
    follow_up_of: str | None = None
    sources_needed: str = "any"   # "any": one gold source suffices; "all": the answer combines them
    note: str = ""


_GOLD_KEYS = {"id", "question", "lang", "answers", "sources", "answerable", "follow_up_of",
              "sources_needed", "note"}


def parse_gold(lines: list[str], name: str = "gold file") -> list[GoldItem]:
    items: list[GoldItem] = []
    seen: set[str] = set()
    for no, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        where = f"{name} line {no}"
        try:
            row = json.loads(line)
        except ValueError as e:
            raise EvalError(f"{where} is not valid JSON ({e.msg}).") from None
        if not isinstance(row, dict):
            raise EvalError(f"{where} must be a JSON object.")
        unknown = set(row) - _GOLD_KEYS
        if unknown:
            raise EvalError(f"{where} has unknown field(s) {', '.join(sorted(unknown))}.")
        for key in ("id", "question", "lang"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise EvalError(f"{where} needs a non-empty string '{key}'.")
        if row["lang"] not in ("de", "en"):
            raise EvalError(f"{where}: 'lang' must be \"de\" or \"en\", not {row['lang']!r}.")
        if row["id"] in seen:
            raise EvalError(f"{where}: the id {row['id']!r} is used twice.")
        answerable = row.get("answerable", True)
        if not isinstance(answerable, bool):
            raise EvalError(f"{where}: 'answerable' must be true or false.")
        for key in ("answers", "sources"):
            v = row.get(key, [])
            if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
                raise EvalError(f"{where}: '{key}' must be a list of non-empty strings.")
        if answerable and not row.get("answers"):
            raise EvalError(f"{where}: an answerable question needs at least one gold answer.")
        if answerable and not row.get("sources"):
            raise EvalError(f"{where}: an answerable question needs at least one source file.")
        follow = row.get("follow_up_of")
        if follow is not None and follow not in seen:
            raise EvalError(f"{where}: 'follow_up_of' must name an earlier item's id, not {follow!r}.")
        needed = row.get("sources_needed", "any")
        if needed not in ("any", "all"):
            raise EvalError(f"{where}: 'sources_needed' must be \"any\" or \"all\".")
        seen.add(row["id"])
        items.append(GoldItem(row["id"], row["question"].strip(), row["lang"], list(row.get("answers", [])),
                              list(row.get("sources", [])), answerable, follow, needed,
                              str(row.get("note", ""))))
    if not items:
        raise EvalError(f"The {name} has no questions.")
    return items


def load_gold(path: str | Path) -> list[GoldItem]:
    path = Path(path)
    if not path.is_file():
        raise EvalError(f"The gold file '{path}' does not exist.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise EvalError(f"The gold file '{path}' is not UTF-8 text.") from None
    return parse_gold(text.splitlines(), name=path.name)


def gold_split(records: list[dict]) -> dict[str, str]:
    """id -> "dev" | "test" for gold records (JSON objects with id and follow_up_of).

    A question, its twin in the other language (same id after the "de-"/"en-" prefix) and its
    follow-ups form one group, so no group straddles the split; groups are sorted by the SHA-1 of
    their key and dealt alternately to dev and test."""
    by_id = {r["id"]: r for r in records}

    def group(r: dict) -> str:
        while r.get("follow_up_of") in by_id:
            r = by_id[r["follow_up_of"]]
        return r["id"].split("-", 1)[-1]

    keys = sorted({group(r) for r in records}, key=lambda g: hashlib.sha1(g.encode()).hexdigest())
    side = {g: ("dev" if i % 2 == 0 else "test") for i, g in enumerate(keys)}
    return {r["id"]: side[group(r)] for r in records}


def check_gold_sources(items: list[GoldItem], articles: list[Path]) -> list[str]:
    """Gold sources that match none of the article files (a typo would silently zero recall)."""
    names = [p.as_posix() for p in articles]
    missing = []
    for item in items:
        for s in item.sources:
            if not any(source_matches(n, s) for n in names):
                missing.append(f"{item.id}: {s}")
    return missing


def source_matches(path: str, gold: str) -> bool:
    """A gold source names a file by its name or by a trailing part of its path."""
    p, g = Path(path).as_posix().split("/"), Path(gold).as_posix().strip("/").split("/")
    return p[-len(g):] == g


# --- XQuAD parallel paragraphs (the split is xquad_split above) -----------------------------------

@dataclass(frozen=True)
class ParallelParagraph:
    id: str              # "AA-PP", as Paragraph.id
    article: int         # 0-based article index in file order
    title: str
    de: str
    en: str


def load_parallel(folder: str | Path = DEFAULT_XQUAD) -> list[ParallelParagraph]:
    """German and English XQuAD paragraphs side by side (the files are parallel: same articles,
    same paragraphs, same order)."""
    folder = Path(folder)
    de, en = _read_json(folder / "xquad.de.json"), _read_json(folder / "xquad.en.json")
    out = []
    for ai, (a_de, a_en) in enumerate(zip(de["data"], en["data"])):
        if len(a_de["paragraphs"]) != len(a_en["paragraphs"]):
            raise EvalError(f"XQuAD article {ai} has different paragraph counts in German and English.")
        for pi, (p_de, p_en) in enumerate(zip(a_de["paragraphs"], a_en["paragraphs"])):
            out.append(ParallelParagraph(f"{ai:02d}-{pi:02d}", ai, a_de.get("title", "").replace("_", " "),
                                         p_de["context"], p_en["context"]))
    return out
