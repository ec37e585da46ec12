"""Which language a question (or an answer) is in: German or English."""
from __future__ import annotations

from functools import lru_cache

from . import lang as langs

SUPPORTED = langs.SUPPORTED


@lru_cache(maxsize=1)
def _detector():
    from lingua import Language, LanguageDetectorBuilder

    # Its models load when it is built (Assistant.warm_up does that in the background), not on
    # the first question that the function words leave open, which would wait for them.
    return LanguageDetectorBuilder.from_languages(Language.GERMAN, Language.ENGLISH) \
        .with_preloaded_language_models().build()


def warm_up() -> None:
    """Build the detector now (its language models load with it)."""
    _detector()


def detect(text: str, default: str = "en") -> str:
    """'de' or 'en'. Anything else (or nothing to go on) gets `default`."""
    words = [w.strip("?!.,;:\"'„“()").lower() for w in text.split()]
    # Short questions are where detectors stumble; the function words in each language's rules
    # (rag/lang/<code>.py HINTS) settle most of them.
    de = sum(w in langs.rules("de").HINTS for w in words)
    en = sum(w in langs.rules("en").HINTS for w in words)
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
