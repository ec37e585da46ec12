"""English words for the German words of a short answer, for an English reader, from a
German-English dictionary: Ding (Debian's trans-de-en, GPL-2+), which `make` fetches into
.cache/dictionary (scripts/fetch-dictionary.sh); it is never committed.

No translation model runs here (none ships on the registries), so a German phrase reached the
English reader as the article's words ("Kaffee und Kuchen", "Stadthalle"). A word-by-word gloss
is what a reader can use ("coffee and cake", "municipal hall"), and the German quote follows it
in the answer. On the XQuAD test articles, in one run with and without it (`python -m rag eval
answers --modes extractive,unglossed`), English questions' short-answer F1 rose from 26.4 to 34.8
and contains-gold from 32.7 to 37.3 %, German answers unchanged. The rules below (headword
sense first, marked senses last, English words inside names kept, compounds by their parts)
were chosen on the dev articles. The reader also matches an English question's words to the
German words of a sentence through it (rag/reader_features.py QuestionTerms; `english`).

What stays as written: names (a capitalised word the dictionary lacks, and an English word
inside a name or before one: "New England Patriots", "Premier League", "Jean Ribault", "Super
Bowl"; a name of common English words: "Lunar Module Pilot"), a phrase with English function
words (a title: "The Talons of Weng-Chiang"), initials and the name around them ("Michael E.
Mann", "E. I. du Pont"), numbers and dates (rag/render.py has
rendered them already), and any word the dictionary lacks. A hyphenated compound is glossed by
its last part ("WWF-Bericht" -> "WWF report"). "der"/"einer" after a noun is a genitive ("the
practice of the pharmacist"), a doubled "to"/"the" is written once ("bis zur": "to the"), and a
capitalised word after a name that the dictionary has only without an ending stays ("Catherine
Tate", not "Catherine act"). A phrase the dictionary has as an entry of its own is glossed whole,
in any declension ("den Vereinigten Staaten" -> "the United States", not "the federal States";
"des Roten Kreuzes", "im Nahen Osten", "Zweiten Weltkrieg" -> "World War II"). Those rules were
chosen on the dev articles' gold answers (their German answer span rendered for the English
question: contains 55.4 -> 58.5 %, F1 71.9 -> 73.4; 59.0 % with rag/render.py's ordinals, 59.3 %
and F1 73.8 with names around initials, 59.5 % and F1 74.0 with the genitive, doubled words and
names before inflected-looking words, 59.8 % and F1 74.3 with phrases).

A quote glossed word for word for an English reader (rag/render.py `sentence_in_english`) gets
more than a short answer (`gloss(..., quote=True)`): conjugated verbs, from the conjugations the
dictionary lists ("traf" -> "met", "nahm ... teil" -> "attended") or by rule from an infinitive
("lebten" -> "live"), modal verbs, "es gibt" ("there is"), "nach" before a place ("to
Pyongyang") and hyphenated words of dictionary words ("Kreml-Sprecher" -> "Kremlin spokesman").
Short answers keep the gloss above: the reader's models learned with it. On the XQuAD articles
the lower-case German words a quote's English keeps as written went from 5.4 to 4.3 % (dev) and
5.3 to 4.5 % (test) with the conjugations, separable verbs and hyphenated words (`python -m rag
eval answers`, "Left German")."""
from __future__ import annotations

import json
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

from . import lang as langs
from .lexical import function_words, stopwords, tokenize
from .text import without_ending
from .word_frequency import rarity

log = logging.getLogger(__name__)

_FORMAT = 5      # of the cached tables: raise it when a parse_*() function changes
# Annotations that may hold a semicolon ("/Gov.; Govt./", "{brach; gebrochen}"); the [labels]
# stay until a synonym is split off, to tell which synonym they mark.
_NESTED = re.compile(r"\{[^}]*\}|\([^)]*\)|/[^/]*/|<[^>]*>")
_ANNOTATION = re.compile(_NESTED.pattern + r"|\[[^\]]*\]")      # all of them, labels too
_EDGE = "'\"….,;:!?()„“”‚‘’ "
MAX_GLOSS_WORDS = 3          # longer English entries are explanations, not a word's gloss
MAX_PHRASE_WORDS = 4         # German words of a dictionary phrase glossed as a whole
MAX_PHRASE_GLOSS_WORDS = 5   # "Bundesrepublik Deutschland" -> "Federal Republic of Germany"
MAX_GERMAN_WORDS = 8         # German words kept per English word (`parse_german_words`)
MAX_ENGLISH_PHRASE_WORDS = 3     # "north korea" -> "Nordkorea", "foreign ministry" -> "Außenministerium"
_PHRASE_WORD = re.compile(r"[^\W\d_][\w-]*")     # no entries with numbers or punctuation
# Senses a short answer should not be glossed with while another sense exists: slurs, slang,
# colloquial, old or rare words ("Franzosen" as "frogs").
_MARKED = re.compile(r"\[(pej|vulg|slang|ugs|coll|veraltet|obs|humor|poet|selten|rare|Jägersprache)\.?\]")
_PREFIX_FORM = re.compile(r"(?:…|\.\.\.)\s*$")     # "Präsidenten…": the start of compounds
_ARTICLE_DE, _ARTICLE_EN = re.compile(r"^(der|die|das) "), re.compile(r"^the ")
# The pronouns before a conjugated form in a Ding verb line's columns, German and English.
# Their slashes are read as "+" ("ich+er+sie"): `_NESTED` takes "/…/" for an abbreviation.
_PRONOUNS = re.compile(r"(?<![\w/])(?:ich/er/sie/es|ich/er/sie|er/sie/es|er/sie|wir/sie|I/he/she/it|I/he/she|"
                       r"he/she/it|he/she|we/they)(?![\w/])")
_PRONOUN_DE = re.compile(r"^(?:ich\+er\+sie\+es|ich\+er\+sie|er\+sie\+es|er\+sie|wir\+sie|ich|du|wir|ihr|es) (.+)$")
_PRONOUN_EN = re.compile(r"^(?:I\+he\+she\+it|I\+he\+she|he\+she\+it|he\+she|we\+they|I|you|we|they|it) (.+)$")
_GEOGRAPHIC = re.compile(r"\[geogr\.\]")
# A conjugated form: one word, or one and its separable particle ("nahm teil", "kündigte an").
_FORM = re.compile(r"^[a-zäöüß]+(?: [a-zäöüß]+)?$")
_VERB_LINE = re.compile(r"\{v[irt]*\}")          # a headword marked {vt}, {vi}, {vr}, {v}
_AUXILIARY_EN = re.compile(r"^(?:has|had|have)(?:/had)? ")     # "he/she has/had met": a participle's line
# A capitalised word inside a phrase that the dictionary lacks and English uses at least this
# often (-log10 frequency; "patriots" 6.1, "league" 5.1) is an English word of a name.
ENGLISH_NAME_WORD_RARITY = 6.5
_INITIAL = re.compile(r"(?:[A-Z]\.)+")      # "E.", "E.I."
_REPEATED = re.compile(r"\b(to|the|of|a|in)(?: \1\b)+", re.IGNORECASE)    # "to to the"
# The dictionary's stand-ins for an object ("to put sth", "retention of sb./sth", "sb.’s
# readiness"): in a text the object is there already, so they go, with a preposition before them.
_PLACEHOLDER = re.compile(r"(?:^|\s+(?:(?:of|to|from|for|with|on|at|in|about|into)\s+)?)"
                          r"(?:sb|sth)(?:\.?[’']s|\.)?(?:/(?:sb|sth)\.?)*(?=\s|$)")


def _clean(text: str) -> str:
    """An entry without its annotations ({f}, [geogr.], (of a place), /Sat/)."""
    return " ".join(_ANNOTATION.sub(" ", text).split()).strip(_EDGE)


def _entries(lines: Iterable[str]) -> Iterator[tuple[str, str, int, int, int]]:
    """(German form, English, rank, line number, words of the line's English) of each form of
    each Ding line ("Stadt {f} | Städte {pl} :: town | towns"): rank 0 for a line's headword, 1
    for its other forms, 2 for its sub-entries, 3 more for a marked sense, 4 more for the start of
    a compound ("Präsidenten…"). English of more than MAX_PHRASE_GLOSS_WORDS words is an
    explanation, not a translation, and is left out (for a single word, of more than
    MAX_GLOSS_WORDS: `_word_table`)."""
    for n, line in enumerate(lines):
        for k, (de, en) in enumerate(_columns(line)):
            first_en = _NESTED.sub(" ", en).split(";")[0]
            gloss = _clean(first_en)
            size = len(gloss.split())
            if not gloss or size > MAX_PHRASE_GLOSS_WORDS or "…" in gloss or "..." in gloss:
                continue
            for j, form in enumerate(_NESTED.sub(" ", de).split(";")):
                word, english = _clean(form), gloss       # case kept: German nouns are capitalised
                if _ARTICLE_DE.match(word):      # "die Franzosen {pl} :: the French": the word alone
                    word, english = _ARTICLE_DE.sub("", word), _ARTICLE_EN.sub("", gloss)
                if word:
                    marked = 3 if _MARKED.search(form) or _MARKED.search(first_en) else 0
                    # "Präsidenten…" (presidential) only starts compounds: the word is the
                    # plural, "Präsidenten {pl}" (presidents).
                    marked += 4 if _PREFIX_FORM.search(_ANNOTATION.sub(" ", form)) else 0
                    yield word, english, marked + (0 if (k, j) == (0, 0) else 1 if k == 0 else 2), n, size


def _columns(line: str) -> list[tuple[str, str]]:
    """The (German, English) columns of a Ding line ("Stadt {f} | Städte {pl} :: town | towns");
    none for a comment or a line whose sides do not pair up."""
    if line.startswith("#") or " :: " not in line:
        return []
    german, english = line.rstrip("\n").split(" :: ", 1)
    parts_de, parts_en = german.split(" | "), english.split(" | ")
    return list(zip(parts_de, parts_en)) if len(parts_de) == len(parts_en) else []


def _first(entries: Iterable[tuple[str, str, int, int]]) -> dict[str, str]:
    """Each key's English from its best-ranked entry, the earlier line on a tie."""
    best: dict[str, tuple[int, int, str]] = {}
    for key, english, rank, n in entries:
        if key not in best or (rank, n) < best[key][:2]:
            best[key] = (rank, n, english)
    return {k: g for k, (_, _, g) in best.items()}


def parse(lines: Iterable[str]) -> dict[str, str]:
    """German word form -> English, from Ding lines. A form takes the English of the first line
    where it is the headword, else of the first line that lists it: the headword's line gives
    the usual sense, a form listed elsewhere an idiom's."""
    return _word_table(_entries(lines))


def parse_phrases(lines: Iterable[str]) -> dict[str, str]:
    """`phrase_key` of a dictionary phrase -> English, ranked as `parse` ranks words: entries of
    2 to MAX_PHRASE_WORDS words ("Vereinigte Staaten" -> "United States", "ziviler Ungehorsam"
    -> "civil disobedience") with two content words or more (not "mit der" -> "whereby"), at
    least as many English words as content words ("deutsche Sprache" -> "German" would drop
    "language" from "der deutschen Sprache und Literatur"), and no verb ("die Regierung
    übernehmen" -> "to take office": a text conjugates the verb, and may split it off)."""
    return _phrase_table(_entries(lines))


def parse_verb_forms(lines: Iterable[str]) -> dict[str, str]:
    """A conjugated verb form -> its English, from the columns of Ding's verb lines ("ich/er/sie
    traf :: I/he/she met", "er/sie trifft :: he/she meets", "wir/sie fliegen :: we/they fly"):
    the pronouns go on both sides ("traf" -> "met"). For a quote glossed word for word, where a
    strong verb's past ("traf", "flog", "sprach") stayed German and a form listed in another
    sense's line won ("gibt" -> "performs"); also the forms listed without a pronoun after the
    participles ("strömt | strömte :: streams | streamed"), and a separable verb's form with its
    particle ("nahm teil" -> "took part", "kündigte an" -> "announced"). Left out: forms with an
    auxiliary ("hat/hatte gezogen"), and a present form that is also the line's participle
    ("er/sie bedroht" is "threatened" after "wurde"). Synonyms pair with synonyms where both
    sides list as many; the verb a line lists first wins ("fand": "finden; vorfinden", not
    "glauben; meinen; finden")."""
    return _first(_verb_forms(lines))


def parse_places(lines: Iterable[str]) -> frozenset[str]:
    """The German names of places: the headwords of lines labelled [geogr.] whose English is a
    name ("Österreich :: Austria", "Pjöngjang :: Pyongyang"; not "Abfall :: slant")."""
    out = set()
    for line in lines:
        head, head_en = (_columns(line) or [("", "")])[0]
        if _GEOGRAPHIC.search(head) and _clean(_NESTED.sub(" ", head_en).split(";")[0])[:1].isupper():
            out.update(w for w in (_clean(f) for f in _NESTED.sub(" ", head).split(";")) if w and " " not in w)
    return frozenset(out)


def parse_german_words(lines: Iterable[str]) -> dict[str, list[str]]:
    """English word (or phrase of up to MAX_ENGLISH_PHRASE_WORDS words) -> the single German words
    the dictionary gives for it, in the order it lists them (a line's headword column before its
    other forms, a column's first sense before the others, earlier lines first; at most
    MAX_GERMAN_WORDS): "points" -> "Pointen", "Punkte" ("Pointe {f} | Pointen {pl} :: point |
    points" comes first), "north korea" -> "Nordkorea". Every sense counts, not only the first:
    "region" is "Gebiet" too. For an English question's BM25 query in German (rag/retrieval.py
    `translated_query`)."""
    ranks: dict[str, dict[str, tuple[int, int, int]]] = {}
    for n, line in enumerate(lines):
        for k, (de, en) in enumerate(_columns(line)):
            german = [_ARTICLE_DE.sub("", _clean(form)) for form in _NESTED.sub(" ", de).split(";")]
            german = [w for w in german if w.isalpha()]       # one word: no spaces, digits, dots
            for j, sense in enumerate(_NESTED.sub(" ", en).split(";")):
                english = _clean(sense).removeprefix("to ").lower()
                if not german or not english or len(english.split()) > MAX_ENGLISH_PHRASE_WORDS:
                    continue
                seen = ranks.setdefault(english, {})
                for w in german:
                    seen[w] = min(seen.get(w, (k, j, n)), (k, j, n))
    return {e: sorted(seen, key=seen.__getitem__)[:MAX_GERMAN_WORDS] for e, seen in ranks.items()}


def _verb_forms(lines: Iterable[str]) -> Iterator[tuple[str, str, int, int]]:
    """(form without its pronoun, English without its pronoun, rank, line number) of the verb
    lines' conjugated forms: those after a pronoun, and the present and past after the two
    participles ("strömen | strömend | geströmt | strömt | strömte"), which rank after them."""
    for n, line in enumerate(lines):
        if not _VERB_LINE.search(line.split(" | ", 1)[0]):
            continue            # "ich selbst :: I myself" is no verb
        columns = list(_column_forms(line))
        participles = {de for k, de, _, _ in columns if k == 2}
        conjugation = any(k == 1 and de.endswith("end") for k, de, _, _ in columns)
        for k, de, en, rank in columns:
            de_form, en_form = _PRONOUN_DE.match(de), _PRONOUN_EN.match(en)
            if de_form and en_form:
                form, english = de_form.group(1), en_form.group(1)
            elif conjugation and k in (3, 4) and not _PRONOUN_DE.match(de):
                form, english, rank = de, en, rank + 1
            else:
                continue
            if _FORM.match(form) and form not in participles and not _AUXILIARY_EN.match(english):
                yield form, english, rank, n


def _column_forms(line: str) -> Iterator[tuple[int, str, str, int]]:
    """(column, German, English, rank) of every synonym of every column after a Ding line's
    first: the German synonyms paired with the English ones in order where both sides list as
    many, else each with the first; rank is the synonym's place, 3 more when marked."""
    for k, (de, en) in enumerate(_columns(line)):
        if k == 0:
            continue
        de, en = (_PRONOUNS.sub(lambda m: m.group(0).replace("/", "+"), x) for x in (de, en))
        forms_de, forms_en = _NESTED.sub(" ", de).split(";"), _NESTED.sub(" ", en).split(";")
        for j, form in enumerate(forms_de):
            english_form = _clean(forms_en[j] if len(forms_en) == len(forms_de) else forms_en[0])
            marked = 3 if _MARKED.search(form) or _MARKED.search(english_form) else 0
            if english_form and _clean(form):
                yield k, _clean(form), english_form, marked + j


def _word_table(entries: Iterable[tuple[str, str, int, int, int]]) -> dict[str, str]:
    return _first((word, english, rank, n) for word, english, rank, n, size in entries
                  if " " not in word and size <= MAX_GLOSS_WORDS)


def _phrase_table(entries: Iterable[tuple[str, str, int, int, int]]) -> dict[str, str]:
    def wanted(words: list[str], english: str) -> bool:
        content = [w for w in words if w.lower() not in function_words()]
        return 2 <= len(words) <= MAX_PHRASE_WORDS and all(_PHRASE_WORD.fullmatch(w) for w in words) \
            and len(content) >= 2 and len(english.split()) >= len(content) and not english.startswith("to ")
    return _first((phrase_key(word.split()), english, rank, n) for word, english, rank, n, _ in entries
                  if " " in word and wanted(word.split(), english))


def phrase_key(words: list[str]) -> str:
    """A phrase as looked up: lower case, the words before the last without an adjective ending
    ("den Vereinigten Staaten" and "Vereinigte Staaten" alike)."""
    endings = langs.rules("de").ADJECTIVE_ENDINGS
    return " ".join([without_ending(w.lower(), endings) for w in words[:-1]] + [words[-1].lower()])


@dataclass(frozen=True)
class Glossary:
    words: Mapping[str, str]       # German word form (nouns capitalised) -> English
    phrases: Mapping[str, str] = field(default_factory=dict)     # `phrase_key` -> English
    verb_forms: Mapping[str, str] = field(default_factory=dict)  # "traf" -> "met" (`parse_verb_forms`)
    places: frozenset[str] = frozenset()                         # "Österreich" (`parse_places`)
    german_words: Mapping[str, list[str]] = field(default_factory=dict)   # "region" -> [..., "Gebiet"]
    # word -> English stems (`english_stems`): the same article words are looked up for every
    # question and claim. Filled concurrently at worst with equal values, so no lock.
    _stems: dict = field(default_factory=dict, compare=False, repr=False)

    def gloss(self, source: str, rendered: str, quote: bool = False, hyphenated: bool = False) -> str:
        """`rendered` (rag/render.py's English of the German `source` phrase: its dates and
        numbers already English) with each German word that the dictionary knows in English.
        `quote`: for a quote glossed word for word, also conjugated verbs ("konnte", "lebten",
        "traf"), separable ones ("gab ... bekannt": "announced"), "es gibt" ("there is") and
        "nach" before a place ("to"); short answers and the reader's glossed similarity keep the
        gloss its models learned with. `hyphenated`: hyphenated compounds of German words part
        by part too, as in a quote ("Schwarz-Weiß" -> "black white"): for a short answer shown."""
        src, out = source.split(), rendered.split()
        markers = langs.rules("en").PHRASE_MARKERS
        if any(w.strip(_EDGE).lower() in markers for w in src) or self._english_name(src):
            return rendered       # English already: a title or a name ("The Talons of Weng-Chiang")
        # A word still as the article writes it is German; one the rendering changed is not. Not
        # by position: the rendering may change the number of words ("im Jahr 2000" -> "in 2000").
        german = set(src)
        named = _beside_initials(out) | self._after_names(out)
        phrases = self._phrases(out, german)
        if quote:
            phrases = self._with_impersonal(out, german, phrases)
        separable = self._separable(out, german) if quote else {}
        inside = {i + k for i, (size, _) in phrases.items() for k in range(1, size)}
        words = [separable[i] if i in separable else phrases[i][1] if i in phrases else "" if i in inside else
                 w if i in named else
                 self._genitive(out, i) or
                 self._word(w, w in german, first=i == 0, following=out[i + 1] if i + 1 < len(out) else "",
                            quote=quote, hyphenated=quote or hyphenated)
                 for i, w in enumerate(out)]
        return _no_repeats(" ".join(w for w in words if w))

    def _phrases(self, words: list[str], german: set[str]) -> dict[int, tuple[int, str]]:
        """Start -> (length, English) of the dictionary phrases among `words`, longest first, left
        to right: "den Vereinigten Staaten" is "the United States", not "the federal States"."""
        found, i = {}, 0
        while self.phrases and i < len(words):
            hit = next(filter(None, (self._phrase(words[i:i + size], german)
                                     for size in range(MAX_PHRASE_WORDS, 1, -1))), None)
            if hit:
                found[i] = hit
            i += hit[0] if hit else 1
        return found

    @staticmethod
    def _with_impersonal(words: list[str], german: set[str], phrases: dict[int, tuple[int, str]]) -> dict:
        """`phrases` and the impersonal phrases among `words` ("Es gibt" -> "There is"), which
        take the place of a dictionary phrase they overlap."""
        table = langs.rules("de").IMPERSONAL_EN
        found: dict[int, tuple[int, str]] = {}
        taken: set[int] = set()
        for i in range(len(words)):
            for size in (3, 2):
                part, span = words[i:i + size], set(range(i, i + size))
                english = table.get(" ".join(part).lower())
                if len(part) == size and english and all(w in german for w in part) and not taken & span:
                    found[i] = (size, english.capitalize() if part[0][:1].isupper() else english)
                    taken |= span
                    break
        kept = {i: v for i, v in phrases.items() if not taken & set(range(i, i + v[0]))}
        return {**kept, **found}

    def _phrase(self, words: list[str], german: set[str]) -> tuple[int, str] | None:
        # Words as the article writes them, with punctuation after the last one at most.
        if len(words) < 2 or not all(w in german for w in words) or words[0] != words[0].lstrip(_EDGE) \
                or any(w != w.strip(_EDGE) for w in words[:-1]) or not words[-1].rstrip(_EDGE):
            return None
        last = words[-1].rstrip(_EDGE)
        endings = langs.rules("de").NOUN_CASE_ENDINGS
        for noun in [last] + [last[:-len(e)] for e in endings if last.endswith(e) and len(last) - len(e) >= 3]:
            english = self.phrases.get(phrase_key(words[:-1] + [noun]))
            if english:
                return len(words), english
        return None

    def _after_names(self, words: list[str]) -> set[int]:
        """A capitalised word right after a name that the dictionary has only without an ending
        ("Catherine Tate" is no "Catherine act")."""
        keep = set()
        for i in range(1, len(words)):
            prev, core = words[i - 1].strip(_EDGE), words[i].strip(_EDGE)
            after_name = prev.isalpha() and not words[i - 1].endswith((",", ";", ":")) \
                and prev.lower() not in function_words() and self._is_name(prev)
            if after_name and core[:1].isupper() and core.isalpha() and core not in self.words:
                keep.add(i)
        return keep

    @staticmethod
    def _genitive(words: list[str], i: int) -> str | None:
        """The English of "der"/"einer" right after a noun, where it is a genitive."""
        de = langs.rules("de")
        prev = words[i - 1] if i else ""
        if words[i] in de.GENITIVE_EN and prev[:1].isupper() and prev.isalpha() \
                and prev.lower() not in de.FUNCTION_WORDS_EN:
            return de.GENITIVE_EN[words[i]]
        return None

    @staticmethod
    def _english_name(words: list[str]) -> bool:
        """Two or more capitalised words, each a common English word, numbers aside: a name in
        English ("Lunar Module Pilot", "State Route 41"), though German has some of its words too."""
        cores = [c for c in (w.strip(_EDGE) for w in words) if not c.isdigit()]
        return len(cores) >= 2 and all(c[:1].isupper() and c.isalpha() and common_english(c) for c in cores)

    def is_name(self, phrase: str) -> bool:
        """Whether every word of `phrase` is a name (`_is_name`), and every capitalised part of a
        hyphenated one: "Sergej Lawrow", "Kim Jong-un", not "Außenminister Lawrow" (a dictionary
        word) nor "Paria-Staaten" (Staaten is one)."""
        words = phrase.split()
        parts = [p for w in words if "-" in w for p in w.strip(_EDGE).split("-") if p[:1].isupper()]
        return bool(words) and all(self._is_name(w) for w in words + parts)

    def _is_name(self, word: str) -> bool:
        """A capitalised word the dictionary does not know: a name ("Ribault", "Bowl")."""
        core = word.strip(_EDGE)
        return core[:1].isupper() and not any(c.isdigit() for c in core) and not self.knows(core)

    def _word(self, word: str, german: bool, first: bool, following: str = "", quote: bool = False,
              hyphenated: bool = False) -> str:
        core = word.strip(_EDGE)
        if not german or len(core) < 2 or any(c.isdigit() for c in core):
            return word           # rendered already, a number, or an initial ("H." is no note B)
        de = langs.rules("de")
        low = core.lower()
        if quote and low in de.BEFORE_PLACE_EN and following.strip(_EDGE) in self.places:
            return de.BEFORE_PLACE_EN[low]      # "nach Pjöngjang": "to Pyongyang", not "after"
        if low in de.FUNCTION_WORDS_EN:
            return de.FUNCTION_WORDS_EN[low]
        if quote and low in de.AUXILIARIES_EN:
            return de.AUXILIARIES_EN[low]
        capital = core[:1].isupper()
        ordinal = _english_ordinal(low)
        if ordinal:         # the dictionary's first sense of "Zweiten" is "runner-up"
            return ordinal.capitalize() if capital else ordinal
        english_word = capital and common_english(low)
        if english_word and not first and core not in self.words:
            return word           # an English word inside a name: "New England Patriots"
        if english_word and following and self._is_name(following):
            return word           # and before one: "Jean Ribault", "Super Bowl", "West Side"
        found = self.lookup(core, noun=True) if capital else None
        if found is None and quote and not capital:
            found = self.conjugated(low)        # before the word table: "gibt" -> "gives", not "performs"
        if found is None and (not capital or first):
            found = self.lookup(core, noun=False)       # a sentence's first word is capitalised too
            if found and capital:
                found = found[:1].upper() + found[1:]   # a name's adjective: "Democratic People's Republic"
        if found is None and quote and not capital:
            found = self._verb(low)
        if found is None and capital and len(core) >= 8:
            found = self.compound(core)
        if found is None and "-" in core.strip("-"):
            found = self._hyphenated(core, hyphenated)
        return found or word

    def conjugated(self, word: str, particle: str = "") -> str | None:
        """The English of a conjugated verb form the dictionary lists ("traf" -> "met"; with its
        separable `particle`: "gab", "bekannt" -> "announced"), or of its plural past: "zeigten"
        is "zeigte" and "-n" (a weak verb's), "trafen" "traf" and "-en" (a strong verb's). Only
        in a quote glossed word for word (`gloss(..., quote=True)`)."""
        tail = f" {particle}" if particle else ""
        found = self.verb_forms.get(word + tail)
        if found is None and word.endswith("ten") and len(word) > 5:
            found = self.verb_forms.get(word[:-1] + tail) or (None if tail else self._weak_past(word))
        if found is None and word.endswith("en") and len(word) > 4:
            found = self.verb_forms.get(word[:-2] + tail)
            if found and found.endswith("s"):
                return None     # "zeigt" is "shows", a present singular: "zeigten" is no plural of it
        return found

    def _separable(self, words: list[str], german: set[str]) -> dict[int, str]:
        """Position -> English of a separable verb whose particle ends the run of words ("gab
        die Regierung bekannt": "announced the government"): its English at the verb, nothing at
        the particle, which alone would be glossed as a preposition ("bekannt": "known"). Without
        one, a particle that would read wrong alone is rendered as a particle ("ein": "in", not "a")."""
        last = words[-1] if words else ""
        if len(words) < 2 or last not in german or not last.isalpha() or not last.islower():
            return {}
        for i in range(len(words) - 2, -1, -1):
            w = words[i]
            if w in german and w.isalpha() and w.islower():
                english = self.conjugated(w, particle=last)
                if english:
                    return {i: english, len(words) - 1: ""}
        particle = langs.rules("de").CLAUSE_FINAL_PARTICLES_EN.get(last)
        return {len(words) - 1: particle} if particle else {}

    def _weak_past(self, word: str) -> str | None:
        """A weak verb's plural past ("stimmten") as its singular past, where the word table has
        the form without "-en" as a present singular ("stimmt": "votes", which the lookup would
        give) and the singular past ("stimmte": "voted"). "bekannten" stays "known" (bekannt)."""
        present = self.words.get(word[:-2])
        return self.words.get(word[:-1]) if present and present.endswith("s") else None

    def _verb(self, word: str) -> str | None:
        """A weak verb's conjugated form that the dictionary lists only as its infinitive, as the
        English verb without "to": "lebten", "gelebt" -> "live" (the dictionary's "to live")."""
        de = langs.rules("de")
        bare = word[len(de.PARTICIPLE_PREFIX):] if word.startswith(de.PARTICIPLE_PREFIX) else word
        for form in dict.fromkeys((word, bare)):
            for ending in de.VERB_ENDINGS:
                stem = form[:-len(ending)]
                if form.endswith(ending) and len(stem) >= 3:
                    found = self.words.get(stem + "en") or self.words.get(stem + "n")
                    if found and found.startswith("to "):
                        return found[3:]
        return None

    def _hyphenated(self, word: str, parts: bool = False) -> str | None:
        """A hyphenated compound by its last part: "WWF-Bericht" -> "WWF report", "Miasma-Theorie"
        -> "Miasma theory" (the parts before it are mostly names and stay). With `parts` (a
        quote, a short answer shown), one of dictionary words only is glossed part by part
        ("Kreml-Sprecher" -> "Kremlin spokesman", "militärisch-politischen" -> "military-political")."""
        head, _, last = word.rpartition("-")
        head_english = self.english(head)
        if not last[:1].isupper() or head_english not in (None, head):
            # "Schwarz-Weiß": German words throughout ("Montreal" is a name)
            return self._parts(word) if parts else None
        found = self.lookup(last, noun=True) or (self.compound(last) if len(last) >= 8 else None)
        return f"{head} {found}" if found else None

    def _parts(self, word: str) -> str | None:
        """Each part of a hyphenated word in English, None when the dictionary lacks one."""
        parts = word.split("-")
        found = [self._looked_up(p) for p in parts if p]
        if len(found) != len(parts) or not all(found):
            return None
        return " ".join(found) if parts[-1][:1].isupper() else "-".join(found)

    def english(self, word: str) -> str | None:
        """The English of one German word of an article, names included ("Stadthalle" ->
        "municipal hall"), for matching an English question's words; None when unknown."""
        found = self._looked_up(word)
        if found is None and word[:1].isupper() and len(word) >= 8:
            found = self.compound(word)
        return found

    def _looked_up(self, word: str) -> str | None:
        """The English of `word` as the dictionary has it: a capitalised one as a noun first,
        then as any word (a sentence's first word); no compound split into its parts."""
        return (self.lookup(word, noun=True) if word[:1].isupper() else None) or self.lookup(word, noun=False)

    def english_stems(self, word: str) -> tuple[str, ...]:
        """The stems (rag/lexical.py `tokenize`) of `english(word)`; () when it is unknown."""
        found = self._stems.get(word)
        if found is None:
            english = self.english(word)
            found = self._stems[word] = tuple(tokenize(english, "en")) if english else ()
        return found

    def german(self, english_word: str) -> list[str]:
        """The German words for an English word (`parse_german_words`), looked up as written, then
        without an inflection ("points" -> "point", "registered" -> "register")."""
        forms = _english_forms(english_word)
        return next((list(self.german_words[f]) for f in forms if f in self.german_words), [])

    def german_forms(self, english_word: str) -> list[str]:
        """The German words for an English word as written and for each form without an
        inflection, all of them: "received" is an adjective ("allgemein", "gängig") and, as
        "receive", a verb ("empfangen"); `german` takes the first form the dictionary has."""
        return list(dict.fromkeys(w for f in _english_forms(english_word) for w in self.german_words.get(f, ())))

    def knows(self, word: str) -> bool:
        """Whether `word` is a word of the dictionary (as a noun or otherwise), not a name."""
        return self.english(word) is not None

    def lookup(self, word: str, noun: bool) -> str | None:
        """The English of `word` or of its form without an inflection ending ("feuchten"; a noun's
        in their own order, "Jahren" as "Jahre")."""
        base = word if noun else word.lower()
        de = langs.rules("de")
        for ending in ("",) + (de.NOUN_INFLECTION_ENDINGS if noun else de.INFLECTION_ENDINGS):
            if not ending or (len(base) > len(ending) + 2 and base.endswith(ending)):
                found = self.words.get(base[:len(base) - len(ending)] if ending else base)
                if found:
                    return found
        return None

    def compound(self, word: str) -> str | None:
        """A compound the dictionary lacks, as its parts: the longest known noun at its end and a
        known word before it ("Küstenstadt" -> "coast town")."""
        for i in range(3, len(word) - 3):
            head = word[i].upper() + word[i + 1:]
            if head not in self.words:
                continue
            for link in langs.rules("de").COMPOUND_LINKS:
                if link and not word[:i].endswith(link):
                    continue
                stem = word[:i - len(link)] if link else word[:i]
                modifier = self.words.get(stem) or self.words.get(stem.lower()) or self.words.get(stem.lower() + "en")
                if modifier and len(stem) >= 3:
                    return f"{modifier} {self.words[head]}"
        return None


def _initial(word: str) -> bool:
    return bool(_INITIAL.fullmatch(word.strip("'\"„“”‚‘’,;:()")))


def _beside_initials(words: list[str]) -> set[int]:
    """Positions of the words of a person's name written with initials, which stay as written:
    the word before the initials unless it is a title or a function word ("Michael E. Mann", but
    "Bürgermeister W. Haydon Burns" -> "mayor W. Haydon Burns"), and the surname after them with
    its particles ("E. I. du Pont"; the dictionary glossed them "Mikhail E. man", "E. I. you
    Pontian"). Only the surname: the words after it are glossed ("T. T. Tsui Galerie" -> "T. T.
    Tsui gallery"). A capital after a lower-case abbreviation is no initial ("z. B.")."""
    de = langs.rules("de")
    keep: set[int] = set()
    for i, w in enumerate(words):
        raw = words[i - 1] if i > 0 else ""
        # Only a run's first initial; none after "z." ("z. B." is "for example").
        if not _initial(w) or _initial(raw) or (raw.endswith(".") and raw.strip(_EDGE)[:1].islower()):
            continue
        before = raw.strip(_EDGE)
        if before[:1].isupper() and not de.ROLE.match(before) and before.lower() not in de.FUNCTION_WORDS_EN:
            keep.add(i - 1)
        j = i + 1
        while j < len(words) and _initial(words[j]):
            j += 1
        while j < len(words) and words[j].strip(_EDGE) in de.NAME_PARTICLES:
            keep.add(j)
            j += 1
        if j < len(words) and words[j].strip(_EDGE)[:1].isupper():
            keep.add(j)
    return keep


def common_english(word: str) -> bool:
    """A word English uses often enough to be an English word of a name ("Patriots", "Super"),
    or an English word, not German left as written, in a gloss (the answers report's "Left German")."""
    return rarity(word.lower(), "en") <= ENGLISH_NAME_WORD_RARITY


@lru_cache(maxsize=1)
def _ordinals_en() -> dict[int, str]:
    return {n: word for word, n in langs.rules("en").ORDINAL_STEMS.items()}


def _english_ordinal(word: str) -> str | None:
    """"zweiten" -> "second" (the ordinal words of rag/lang, as the checkable tokens read them)."""
    n = langs.ordinal_words().get(word)
    return _ordinals_en().get(n) if n else None


_OFF = {"", ".", "none", "off"}     # RAG_DICTIONARY=none: no dictionary, and no warning
_lock = threading.Lock()
_loaded: dict[Path, Glossary | None] = {}


def load(path: Path | None) -> Glossary | None:
    """The glossary of the dictionary at `path` (None when there is none: English short answers
    then keep the article's words). Parsed once per process and cached beside the dictionary."""
    if not path or str(path) in _OFF:
        return None
    path = Path(path)
    with _lock:
        if path not in _loaded:
            if not path.is_file():
                _loaded[path] = None
                log.warning("no dictionary at %s: English short answers keep the article's German words "
                            "and English questions are read less well (`make dictionary` fetches it)", path)
            else:
                _loaded[path] = Glossary(*_read(path))
                log.info("glossary: %d German words, %d phrases and %d verb forms from %s",
                         len(_loaded[path].words), len(_loaded[path].phrases), len(_loaded[path].verb_forms), path)
        return _loaded[path]


def _read(path: Path) -> tuple[dict[str, str], dict[str, str], dict[str, str], frozenset[str], dict]:
    """The words, phrases, verb forms, places and German words of English ones (`parse`,
    `parse_phrases`, `parse_verb_forms`, `parse_places`, `parse_german_words`) of the dictionary
    at `path`. Parsing the 25 MB dictionary takes seconds; the
    parsed tables, cached as JSON beside it, a fraction of one. The cache is keyed by the
    dictionary's size and time."""
    stat = path.stat()
    key = [_FORMAT, stat.st_size, stat.st_mtime_ns]
    cache = path.with_name(path.name + ".glossary.json")
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data.get("key") == key:
            return (data["words"], data["phrases"], data["verb_forms"], frozenset(data["places"]),
                    data["german_words"])
    except (OSError, ValueError, KeyError):
        pass
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.readlines()
    entries = list(_entries(lines))         # one pass over the file for both word tables
    words, phrases = _word_table(entries), _phrase_table(entries)
    verbs, places, german = parse_verb_forms(lines), parse_places(lines), parse_german_words(lines)
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"key": key, "words": words, "phrases": phrases, "verb_forms": verbs,
                                   "places": sorted(places), "german_words": german}, ensure_ascii=False),
                       encoding="utf-8")
        os.replace(tmp, cache)
    except OSError as e:          # a read-only folder: parse again next time
        log.warning("glossary: could not cache %s (%s)", cache, e)
    return words, phrases, verbs, places, german


def _english_forms(english_word: str) -> list[str]:
    """An English word in lower case, then the forms without each inflection it may carry."""
    low = english_word.lower()
    return [low] + [low[:-len(end)] + new for end, new in langs.rules("en").INFLECTIONS
                    if low.endswith(end) and len(low) - len(end) >= 3]


_QUESTION_WORD = re.compile(r"[^\W_][\w'’-]*")
_POSSESSIVE = re.compile(r"['’]s?$")


def german_terms(question: str, held: Callable[[str], list[str]],
                 spelling: Callable[[str], str] = str) -> list[tuple[str, list[str]]]:
    """(English phrase or word, its German words) for an English question, in order: the longest
    dictionary phrase at each word first (up to MAX_ENGLISH_PHRASE_WORDS words: "North Korea" ->
    "Nordkorea"), else the content word's German words (`held(english)`: a Glossary's `german`
    or `german_forms`, as many as the caller wants), a number as written, a capitalised word
    without German words spelled by `spelling` (a name; "" leaves it out). A possessive "'s" goes
    first; stopwords and words with no German words are left out. Retrieval's BM25 query
    (rag/retrieval.py `translated_query`) and the reader's question terms (rag/reader_features.py)
    read it."""
    stop = stopwords("en")
    words, out, i = [_POSSESSIVE.sub("", w) for w in _QUESTION_WORD.findall(question)], [], 0
    while i < len(words):
        size, german = _longest_phrase(words, i, held)
        word = words[i]
        if not german and word.lower() not in stop:
            if any(ch.isdigit() for ch in word):
                german = [word]
            else:
                german = held(word) or ([spelling(word)] if word[:1].isupper() else [])   # a name
        german = [w for w in german if w]
        if german:
            out.append((" ".join(words[i:i + size]), german))
        i += size
    return out


def _longest_phrase(words: list[str], i: int, held: Callable[[str], list[str]]) -> tuple[int, list[str]]:
    """(words taken, German words) of the longest dictionary phrase starting at words[i] whose
    German `held` gives; (1, []) when there is none."""
    for size in range(min(MAX_ENGLISH_PHRASE_WORDS, len(words) - i), 1, -1):
        german = held(" ".join(words[i:i + size]))
        if german:
            return size, german
    return 1, []


def without_placeholders(text: str) -> str:
    """`text` (a gloss) without the dictionary's stand-ins for an object ("to put sth" -> "to put",
    "retention of sb./sth" -> "retention"): in an article the object is there already."""
    return " ".join(_PLACEHOLDER.sub("", text).split())


def _no_repeats(text: str) -> str:
    """ "1756 to to the signing" -> "1756 to the signing": two German words may both be glossed
    "to" ("bis zur")."""
    return _REPEATED.sub(r"\1", text)
