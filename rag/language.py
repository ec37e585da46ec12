"""Which language a question (or an answer) is in: German or English."""
from __future__ import annotations

from functools import lru_cache

SUPPORTED = ("de", "en")

# Short questions are where detectors stumble; these words settle most of them.
_DE_HINTS = {"wer", "wie", "was", "wo", "wann", "warum", "wieso", "weshalb", "welche", "welcher",
             "welches", "wen", "wem", "wessen", "ist", "sind", "der", "die", "das", "und", "nicht",
             "hat", "haben", "mit", "den", "von", "viele", "sagte", "über", "für", "wurde", "laut",
             "im", "am", "zum", "zur", "des", "dem", "ein", "eine", "einen", "auch", "nach", "bei",
             "sich", "es", "er", "sie", "wir", "ich", "auf", "aus", "jahr", "heute", "besuchte",
             "heißt", "gibt", "wurden", "war", "welchen", "worüber", "wofür", "womit"}
_EN_HINTS = {"who", "what", "where", "when", "why", "which", "how", "is", "are", "the", "and",
             "not", "has", "have", "with", "of", "many", "did", "does", "said", "about", "for",
             "was", "were", "according", "do", "does", "did", "to", "on", "at", "by", "from",
             "he", "she", "they", "it", "this", "that", "there", "year", "whom", "whose"}


@lru_cache(maxsize=1)
def _detector():
    from lingua import Language, LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_languages(Language.GERMAN, Language.ENGLISH).build()


def detect(text: str, default: str = "en") -> str:
    """'de' or 'en'. Anything else (or nothing to go on) gets `default`."""
    words = [w.strip("?!.,;:\"'„“()").lower() for w in text.split()]
    de = sum(w in _DE_HINTS for w in words)
    en = sum(w in _EN_HINTS for w in words)
    # Function words are strong evidence; detectors trained on long text can be swayed by the
    # loanwords and names that fill short news questions ("Inflation in Japan").
    if abs(de - en) >= 2 or (len(words) <= 6 and de != en):
        return "de" if de > en else "en"
    from lingua import Language

    lang = _detector().detect_language_of(text)
    # lingua hands out fresh enum objects: compare by value, never by identity.
    if lang == Language.GERMAN:
        return "de"
    if lang == Language.ENGLISH:
        return "en"
    return default


def confidence(text: str, lang: str) -> float:
    """Detector confidence (0..1) that `text` is in `lang`."""
    from lingua import Language

    target = Language.GERMAN if lang == "de" else Language.ENGLISH
    return float(_detector().compute_language_confidence(text, target))
