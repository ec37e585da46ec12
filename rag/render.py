"""Short answers in the reader's language: dates, weekdays, numbers and units taken from a German
article are written the English way for English questions ("am Samstag" -> "on Saturday",
"3. Oktober 2023" -> "3 October 2023", "1,5 Millionen Euro" -> "1.5 million euros", "im 19.
Jahrhundert" -> "in the 19th century", "die 1960er" -> "die 1960s"). Names stay
as the article writes them; other words are glossed by a dictionary where one is installed
(rag/glossary.py)."""
from __future__ import annotations

import re
from functools import lru_cache

from . import lang as langs
from .glossary import without_placeholders
from .lexical import stopwords
from .text import without_ending


def lead_with(short: str, body: str) -> str:
    """An extractive answer: the short answer as a paragraph of its own, then the quotes. On one
    line a number ran into the quote ("24. Laut [1]: ..." reads as "the 24th, according to") and
    readers (and the evaluation's first-sentence rule) could not tell where the answer ended."""
    return f"{short}.\n\n{body}" if short else body


_DE_NUMBER = re.compile(r"^\d{1,3}(?:\.\d{3})+(?:,\d+)?$|^\d+,\d+$")
_ORDINAL = re.compile(r"^(\d{1,2})\.$")
_DECADE = re.compile(r"^(\d{1,3}0)er$")                      # "1960er": "1960s"
_DECADE_YEARS = re.compile(r"\b(\d{1,3}0)er[- ]Jahren?\b")     # "1950er Jahren", "90er-Jahre"
_IN_YEAR = re.compile(r"^[Ii]m Jahre? (\d{3,4})\b")
_IN_ANY_YEAR = re.compile(r"\b[Ii]m Jahre? (\d{3,4})\b")
_PREPOSITION = {"am": "on", "im": "in", "seit": "since", "bis": "until", "ab": "from", "um": "at",
                "vor": "before", "nach": "after", "in": "in"}
_SHORT_MONTHS = {"jan", "feb", "mär", "apr", "jun", "jul", "aug", "sep", "sept", "okt", "nov", "dez"}
_NUMBER_WORD_EN = {"zwei": "two", "drei": "three", "vier": "four", "fünf": "five", "sechs": "six",
                   "sieben": "seven", "acht": "eight", "neun": "nine", "zehn": "ten", "elf": "eleven",
                   "zwölf": "twelve", "zwanzig": "twenty", "hundert": "hundred", "tausend": "thousand",
                   "dutzend": "dozen", "beiden": "both", "beide": "both", "hälfte": "half"}
_EXTRA = {"jahrhundert": "century", "jahrhunderts": "century", "jahrzehnt": "decade", "und": "and",
          "bis": "to", "etwa": "about", "rund": "about", "fast": "almost",
          "über": "over", "knapp": "nearly", "ungefähr": "about", "heute": "today", "gestern": "yesterday",
          "lang": "long", "alt": "old"}
# Two words before a number that English says otherwise than word by word ("mehr als 6.500": "more
# than 6,500", was "more as"; "bis zu 30 %": "up to 30 %", was "to").
_BEFORE_NUMBER = {("mehr", "als"): "more than", ("weniger", "als"): "less than", ("bis", "zu"): "up to"}
_DURATIONS = {"seconds", "minutes", "hours", "days", "weeks", "months", "years"}
# Rendered words a phrase does not end on ("two and", "1756 to").
_CONNECTORS = {"and", "to", "over", "about", "almost", "nearly", "on", "in", "since", "until", "from",
               "at", "before", "after"}


def german_number_to_english(word: str) -> str:
    """1.000.000 -> 1,000,000; 3,5 -> 3.5; anything else unchanged."""
    if not _DE_NUMBER.match(word):
        return word
    whole, _, frac = word.partition(",")
    whole = whole.replace(".", ",")
    return f"{whole}.{frac}" if frac else whole


def _word_to_english(word: str, en, de) -> str:
    low = word.lower()
    month = de.MONTHS.get(low.rstrip("."))
    # "Jan", "Aug" alone are names more often than months; abbreviations count with their period.
    if month and (low not in _SHORT_MONTHS or low.endswith(".")):
        return en.MONTH_NAMES[month]
    if low in de.NUMBER_WORDS and low in _NUMBER_WORD_EN:
        return _NUMBER_WORD_EN[low]
    day = de.WEEKDAYS.get(low)
    if day is not None:
        return en.WEEKDAY_NAMES[day]
    if low in de.SCALES:
        return de.SCALES[low]
    if low in de.UNITS:
        return de.UNITS[low]
    if low in _EXTRA:
        return _EXTRA[low]
    m = _ORDINAL.match(word)
    if m:
        return m.group(1)        # a day ("3. Oktober": "3 October"); to_english makes the rest "3rd"
    m = _DECADE.match(word)
    if m:
        return m.group(1) + "s"
    if word.endswith("%") and len(word) > 1:
        return german_number_to_english(word[:-1]) + "%"      # "43,3%"
    return german_number_to_english(word)


def to_english(phrase: str) -> str:
    """`phrase` (from a German article) with its dates, numbers and units in English. A phrase
    that begins with a quantity or date ends before a German function word after it ("am
    Samstag von Staatschef Kim" -> "on Saturday", not "on Saturday von Staatschef Kim", which
    reads as neither language). Other words stay as the article writes them."""
    de = langs.rules("de")
    words, out = _rendered(phrase, anywhere=False)
    counted = len(words) >= 3 and (words[1][:1].isdigit() or words[1].lower() in de.NUMBER_WORDS)
    if counted and words[0].lower() == "vor" and out[2] in _DURATIONS:
        return f"{out[1]} {out[2]} ago"          # "vor drei Tagen": "three days ago", not "before"
    return " ".join(w for w in out[:_end_of_quantity(words, out)] if w)


def sentence_in_english(sentence: str, glossary) -> str:
    """A German sentence word for word in English, for an English reader of a quote: each stretch
    between punctuation marks rendered and glossed as a short answer is (`short_answer`), but with
    a date anywhere in it ("hat am Samstag"), not ended after one, conjugated verbs glossed too and
    the dictionary's "sth"/"sb" left out; the punctuation kept. A rough reading aid, not a
    translation: German word order stays ("have North Korea indicting")."""
    out = []
    for lead, words, trail in _stretches(sentence.split()):
        words, rendered = _rendered(" ".join(words), anywhere=True)
        english = " ".join(w for w in rendered if w)
        if glossary is not None:
            english = without_placeholders(glossary.gloss(" ".join(words), english, quote=True))
        out.append(f"{lead}{english}{trail}")
    text = " ".join(w for w in out if w.strip())
    return text[:1].upper() + text[1:]


_OPEN, _CLOSE = "([„“‚‘\"»«", ")]“”‘’\"«»,;:.!?"


def word_for_word_note(english: str, lang: str) -> str:
    """"(word for word: “...”)" around `english` in `lang` (PHRASES["word_for_word"]); "" when
    there is no English or `lang` has no such note (a German reader reads the German)."""
    phrase = langs.rules(lang).PHRASES["word_for_word"]
    return phrase.format(q=english) if english and phrase else ""


def word_for_word(text: str, glossary) -> str:
    """`sentence_in_english(text)` for an English reader of German words (a quote, an article's
    title); "" without a dictionary, or when it changes no word (a name, a title in English)."""
    if glossary is None:
        return ""
    english = sentence_in_english(text, glossary)
    return english if english.strip() and english.split() != text.split() else ""


def _stretches(words: list[str]) -> list[tuple[str, list[str], str]]:
    """`words` as runs between punctuation marks, each (punctuation before, words, punctuation
    after): a mark at a word's edge ends a run ("beschuldigt," and "(DVRK)"), one inside a word
    does not ("3,2", "Jong-un"). A period ends a run only at the end ("3. Oktober" is one)."""
    runs, current, lead = [], [], ""
    for k, word in enumerate(words):
        core = word.lstrip(_OPEN)
        before = word[:len(word) - len(core)]
        if before and current:
            runs.append((lead, current, ""))
            current, lead = [], ""
        lead = lead or before
        stripped = core.rstrip(_CLOSE)
        after = core[len(stripped):]
        if after.rstrip(".") == "" and k < len(words) - 1:
            stripped, after = core, ""           # an abbreviation or ordinal ("z.", "3.")
        if stripped:
            current.append(stripped)
        if after:
            runs.append((lead, current, after))
            current, lead = [], ""
    if current:
        runs.append((lead, current, ""))
    return runs


def _rendered(phrase: str, anywhere: bool) -> tuple[list[str], list[str]]:
    """`phrase`'s words and their English where rag/render.py knows it ("" for a word dropped),
    else the word as written. A preposition before a date is English at the phrase's start, or
    `anywhere` in it (a sentence: "hat am Samstag"). Short answers keep the first: the reader's
    models were trained on sentences glossed by `short_answer` (reader_features.glossed_cos)."""
    en, de = langs.rules("en"), langs.rules("de")
    phrase = (_IN_ANY_YEAR if anywhere else _IN_YEAR).sub(r"in \1", phrase)   # "im Jahr 2000": "in 2000"
    phrase = _DECADE_YEARS.sub(r"\1er", phrase)    # "in den 1950er Jahren": "in the 1950s"
    words = phrase.split()
    out = [_word_to_english(w, en, de) for w in words]
    prepositions = range(len(words) - 1) if anywhere else range(min(1, len(words) - 1))
    for i in prepositions:
        # "am Samstag": "on Saturday"; between two times "bis" is a range's "to" ("1870 bis 1939")
        if words[i].lower() in _PREPOSITION and _is_time(words[i + 1:], de) \
                and not (i and _is_time(words[i - 1:], de)):
            out[i] = _PREPOSITION[words[i].lower()]
    _relative_time(words, out, en, de)
    _before_numbers(words, out, de)
    for i in range(1, len(words) - 1):
        if words[i].lower() == "zu" and words[i - 1][:1].isdigit() and words[i + 1][:1].isdigit():
            out[i] = "to"       # "20 zu 1"; elsewhere "zu" is rarely "to" ("Steuern zu zahlen")
    for i, w in enumerate(words):
        m = _ORDINAL.match(w)
        if m and not (i + 1 < len(words) and words[i + 1].lower().rstrip(".") in de.MONTHS):
            out[i] = _ordinal_en(int(m.group(1)))    # "19. Jahrhundert": "19th century"; a date stays "3 October"
            if i and words[i - 1].lower() == "im":
                out[i - 1] = "in the"                # "im 19. Jahrhundert": "in the 19th century"
    return words, out


def _relative_time(words: list[str], out: list[str], en, de) -> None:
    """"am vergangenen Sonntag" -> "last Sunday", "im nächsten Jahr" -> "next year", "in dieser
    Woche" -> "this week" (in `out`; the words it drops become "")."""
    lead = 0
    while lead < min(2, len(words) - 2) and words[lead].lower() in de.RELATIVE_TIME_LEAD:
        lead += 1
    if len(words) < lead + 2:
        return
    adjective, noun = words[lead].lower(), words[lead + 1].lower()
    stem = without_ending(adjective, de.ADJECTIVE_ENDINGS)
    day = de.WEEKDAYS.get(noun)
    english = en.WEEKDAY_NAMES[day] if day is not None else de.TIME_NOUNS_EN.get(noun)
    if stem not in de.RELATIVE_TIME or english is None:
        return
    out[:lead + 2] = [""] * lead + [de.RELATIVE_TIME[stem], english]


def _before_numbers(words: list[str], out: list[str], de) -> None:
    """"mehr als 6.500" -> "more than 6,500" (in `out`, as `_relative_time`)."""
    for i in range(len(words) - 2):
        english = _BEFORE_NUMBER.get((words[i].lower(), words[i + 1].lower()))
        after = words[i + 2].lower()
        if english and (after[:1].isdigit() or after in de.NUMBER_WORDS):
            out[i], out[i + 1] = english, ""


def _ordinal_en(n: int) -> str:
    """3 -> "3rd", 11 -> "11th", 22 -> "22nd"."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _end_of_quantity(words: list[str], out: list[str]) -> int:
    """Where the rendered phrase ends: when it begins with a rendered quantity or date (every
    word so far a number or translated), before the first untranslated German function word
    after it; else at its end."""
    german = _german_function_words()
    for i, (w, o) in enumerate(zip(words, out)):
        if o != w or any(c.isdigit() for c in w):
            continue            # still inside the rendered quantity or date
        if i and w.lower() in german and out[i - 1] not in _CONNECTORS:
            return i
        break
    return len(words)


@lru_cache(maxsize=1)
def _german_function_words() -> frozenset[str]:
    return stopwords("de") - stopwords("en")


def _is_time(words: list[str], de) -> bool:
    w = words[0].lower().rstrip(".")
    return w in de.MONTHS or w in de.WEEKDAYS or w.isdigit() or bool(_ORDINAL.match(words[0]))


def short_answer(phrase: str, lang: str, glossary=None, shown: bool = False) -> str:
    """`phrase` of a German article as the short answer in `lang`: for English, its dates and
    numbers rendered, and with a `glossary` (rag/glossary.py) its other German words in English.
    `shown`: as the reader sees it, with hyphenated compounds glossed part by part as in the
    word-for-word line ("Schwarz-Weiß" -> "black white", "Start-Countdown" -> "start countdown",
    not left German); without it, as the reader's glossed similarity reads sentences, which its
    models learned with."""
    if lang != "en":
        return phrase
    out = to_english(phrase)
    return glossary.gloss(phrase, out, hyphenated=shown) if glossary else out
