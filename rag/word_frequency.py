"""How common a word is in a language (-log10 usage frequency), from pyspellchecker's word lists:
the claim check tells a translated common word from a missing name by it, and the English
glossary keeps an English word of a name ("Patriots", "League") as written."""
from __future__ import annotations

import math
import re
from functools import lru_cache

MIN_COUNT = 100          # rarer words of the frequency lists count as unknown (smaller, faster)
UNKNOWN_RARITY = 8.0     # -log10 usage frequency given to a word the lists lack
COMMON_RARITY = 5.0      # at most this: a common word (court, great, church), not a name


@lru_cache(maxsize=4)
def _frequencies(lang: str) -> dict[str, float]:
    """-log10 usage frequency of the words of a language, from pyspellchecker's word lists (only
    what is needed; the library's own spell checker would hold ~100 MB)."""
    import gzip
    import importlib.resources
    import json

    path = importlib.resources.files("spellchecker") / "resources" / f"{lang}.json.gz"
    try:
        counts = json.loads(gzip.decompress(path.read_bytes()))
    except (FileNotFoundError, OSError):
        return {}
    total = sum(counts.values()) or 1
    return {w: round(-math.log10(c / total), 2) for w, c in counts.items() if c >= MIN_COUNT}


def warm_up(langs: tuple[str, ...] = ("de", "en")) -> None:
    """Read the word lists now (the first English answer reads both)."""
    for lang in langs:
        _frequencies(lang)


def rarity(word: str, lang: str) -> float:
    """How rare `word` is in `lang` (-log10 usage frequency): a missing "Court" in an English
    claim is a word the German source translated (Gerichtshof), a missing "Dewar" a name it lacks."""
    w = re.sub(r"['’]s$", "", word.lower())
    return _frequencies(lang).get(w, UNKNOWN_RARITY)
