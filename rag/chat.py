"""Multi-turn chat: follow-up questions become standalone questions before retrieval.

With an LLM, the model rewrites the follow-up from the (trimmed, marker-free) conversation. Without
one, or when the model's rewrite is unusable, simple rules do: a question that leans on the
conversation ("Und wann war das?", "What did she say there?") gets the previous question's names
and key words, plus a name the previous answer gave, appended in brackets, which is what retrieval
needs to find the same articles again.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

from . import language
from .citations import strip_markers, strip_quotes
from .lexical import stopwords

Turn = tuple[str, str]

# Words that point back into the conversation. "das"/"that"/"this" count only when they stand for
# something (end of the question, or before a verb); in German an article stands before a
# capitalised noun.
_ANAPHORA = {
    "de": {"er", "sie", "ihn", "ihm", "ihr", "ihre", "ihren", "ihrem", "ihrer", "sein", "seine",
           "seinen", "seinem", "seiner", "dort", "dorthin", "da", "damals", "dabei", "dazu",
           "darüber", "davon", "daran", "danach", "davor", "dafür", "dagegen", "darauf", "deren",
           "dessen", "denen", "diese", "dieser", "dieses", "derselbe", "dieselbe", "jene", "jener"},
    "en": {"he", "she", "him", "her", "his", "hers", "they", "them", "their", "theirs", "there",
           "then", "those", "these", "its", "it"},
}
_DEMONSTRATIVE = {"de": {"das", "dies", "dem", "den"}, "en": {"that", "this"}}
_OPENERS = {"de": ("und ", "aber ", "und was", "was ist mit", "wie steht es mit", "auch "),
            "en": ("and ", "but ", "what about", "how about", "also ")}
# Not entities, however they are capitalised.
_QUESTION_WORDS = {"wer", "wie", "was", "wo", "wann", "warum", "wieso", "weshalb", "welche", "welcher",
                   "welches", "welchen", "wen", "wem", "wessen", "woher", "wohin", "who", "what",
                   "where", "when", "why", "which", "how", "whom", "whose", "und", "and", "did",
                   "does", "do", "is", "are", "was", "were", "hat", "haben", "ist", "sind", "gibt"}
_NAME = re.compile(r"\b[A-ZÄÖÜ][\w'’-]+(?:\s+[A-ZÄÖÜ][\w'’-]+){1,3}")


def _words(text: str) -> list[str]:
    return re.findall(r"[\w'’-]+", text)


def is_follow_up(question: str, lang: str) -> bool:
    """Does `question` lean on an earlier turn? Rules, not a model: pronouns and adverbs that
    refer back, "and ..." openers, and questions too short to stand alone."""
    q = " ".join(question.split())
    low = q.lower()
    words = _words(q)
    if not words:
        return False
    langs = [lang] + [x for x in ("de", "en") if x != lang]
    if any(low.startswith(o) for x in langs for o in _OPENERS[x]):
        return True
    lower = [w.lower() for w in words]
    for x in langs:
        for i, w in enumerate(lower):
            if w not in _ANAPHORA[x]:
                continue
            near = set(lower[max(0, i - 1):i]) | set(lower[i + 1:i + 2])
            if x == "en" and w in {"there", "it"} and near & {"is", "are", "was", "were"}:
                continue        # "Are there ...", "Is it true ..." point nowhere
            return True
        for i, w in enumerate(lower):
            if w in _DEMONSTRATIVE[x]:
                nxt = words[i + 1] if i + 1 < len(words) else ""
                # "Wann war das?" / "das war" vs "das Treffen"; "What was that?" vs "that meeting"
                if not nxt or (x == "de" and nxt[:1].islower()) or (x == "en" and nxt.lower() in
                                                                  {"is", "was", "happened", "mean"}):
                    return True
    return len(words) <= 2


def entities(question: str, lang: str, limit: int = 6) -> list[str]:
    """Names and key words of a question: runs of capitalised words ("North Korea"), numbers, and
    in English longer content words. In German every noun is capitalised, which is what we want."""
    stop = stopwords("de") | stopwords("en")
    out: list[str] = []
    run: list[str] = []

    def close_run() -> None:
        if run and " ".join(run) not in out:
            out.append(" ".join(run))
        run.clear()

    for w in _words(question):
        lw = w.lower()
        if lw in _QUESTION_WORDS or lw in stop or (len(w) < 3 and not w.isdigit()):
            close_run()
            continue
        if w[:1].isupper():
            run.append(w)
            continue
        close_run()
        if (w.isdigit() or (lang == "en" and len(w) >= 6)) and w not in out:
            out.append(w)
    close_run()
    return out[:limit]


def answer_names(answer: str, limit: int = 2) -> list[str]:
    """Multi-word names from the first sentence of an answer (without quotes and markers): what a
    "she" or "there" in the next question most likely means."""
    text = strip_quotes(strip_markers(answer))
    first = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0] if text.strip() else ""
    names = []
    for m in _NAME.finditer(first):
        words = [w for w in m.group(0).split() if w.lower() not in _QUESTION_WORDS]
        name = " ".join(words)
        if len(words) >= 2 and name not in names and not name.lower().startswith(("according", "laut")):
            names.append(name)
    return names[:limit]


def rule_rewrite(question: str, lang: str, previous_question: str, previous_answer: str = "") -> str:
    """`question` with the previous turn's names appended, or unchanged when it stands alone."""
    if not previous_question or not is_follow_up(question, lang):
        return question
    have = {w.lower() for w in _words(question)}
    context = [e for e in entities(previous_question, lang)
               if not all(w.lower() in have for w in e.split())]
    for name in answer_names(previous_answer):
        if not all(w.lower() in have or w in context for w in name.split()):
            context.append(name)
    if not context:
        return question
    return f"{question.strip()} ({', '.join(context)})"


def normalize_history(history: Any) -> list[Turn]:
    """(user, assistant) pairs from either pairs or chat messages ({'role', 'content'} dicts, as
    chat UIs keep them). Anything else is skipped."""
    turns: list[Turn] = []
    for item in history or []:
        if isinstance(item, dict):
            role, content = item.get("role"), item.get("content")
            text = content if isinstance(content, str) else ""
            if role == "user":
                turns.append((text, ""))
            elif role == "assistant" and turns and not turns[-1][1]:
                turns[-1] = (turns[-1][0], text)
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            u, a = item
            turns.append((u if isinstance(u, str) else "", a if isinstance(a, str) else ""))
    return [(u, a) for u, a in turns if u.strip()]


def trim_history(history: list[Turn], max_chars: int) -> list[Turn]:
    """The newest turns that fit in `max_chars`, citation markers stripped from the answers. The
    newest turn is always kept (its answer cut to fit)."""
    out: list[Turn] = []
    used = 0
    for user, assistant in reversed(history):
        assistant = strip_markers(assistant or "")
        size = len(user) + len(assistant)
        if out and used + size > max_chars:
            break
        if not out and size > max_chars:
            assistant = assistant[:max(0, max_chars - len(user))].rstrip()
            size = len(user) + len(assistant)
        out.append((user, assistant))
        used += size
    return list(reversed(out))


@dataclass
class Standalone:
    question: str        # what retrieval sees
    method: str          # "none" (no history), "unchanged", "rules" or "llm"
    lang: str


def question_language(question: str, history: list[Turn]) -> str:
    """The follow-up's language; a question too short to tell ("Und Putin?") takes the previous
    question's."""
    if len(_words(question)) <= 2 and history:
        return language.detect(history[-1][0])
    return language.detect(question)


def standalone_by_rules(question: str, lang: str, history: list[Turn]) -> Standalone:
    """Rewrite each turn's question in order, so context carries across several follow-ups."""
    if not history:
        return Standalone(question, "none", lang)
    previous = ""
    for user, assistant in history:
        prev_lang = language.detect(user)
        previous = rule_rewrite(user, prev_lang, previous) if previous else user
        last_answer = assistant
    rewritten = rule_rewrite(question, lang, previous, last_answer)
    return Standalone(rewritten, "rules" if rewritten != question else "unchanged", lang)


_LABEL = re.compile(r"^\s*(?:eigenständige frage|standalone question|frage|question|umformuliert|"
                    r"rewritten(?: question)?)\s*:\s*", re.I)


def clean_rewrite(text: str, question: str, lang: str) -> str | None:
    """The model's rewrite if it is usable: one line, a question-sized text, in `lang`."""
    lines = [l.strip() for l in (text or "").splitlines() if l.strip()]
    if not lines:
        return None
    out = _LABEL.sub("", lines[0]).strip().strip("\"'„“”»«").strip()
    out = strip_markers(out)
    if len(out) < 3 or len(out) > max(300, 3 * len(question) + 100):
        return None
    if len(_words(out)) >= 4 and language.detect(out) != lang:
        return None
    return out


def standalone_by_llm(backend, question: str, lang: str, history: list[Turn], deadline: float,
                      max_chars: int) -> Standalone:
    """Ask the model; fall back to the rules on any failure or unusable output."""
    from . import llm as llm_mod
    from .prompts import rewrite_messages

    if not history:
        return Standalone(question, "none", lang)
    if not is_follow_up(question, lang):
        return Standalone(question, "unchanged", lang)
    try:
        text = llm_mod.complete_text(backend, rewrite_messages(question, lang, trim_history(history, max_chars)),
                                     deadline, max_tokens=80, temperature=0.0)
    except llm_mod.LLMError:
        return standalone_by_rules(question, lang, history)
    cleaned = clean_rewrite(text, question, lang)
    if cleaned is None:
        return standalone_by_rules(question, lang, history)
    return Standalone(cleaned, "llm", lang)


class ChatSession:
    """A conversation with an Assistant: remembers the turns and passes them along.

        chat = ChatSession(bot)
        chat.ask("Wer ist der Sprecher des Kremls?")
        chat.ask("Und was hat er gesagt?")
    """

    def __init__(self, assistant, **ask_kwargs):
        self.assistant = assistant
        self.ask_kwargs = ask_kwargs
        self.history: list[Turn] = []

    def ask(self, question: str, **kwargs):
        answer = self.assistant.ask(question, history=list(self.history), **{**self.ask_kwargs, **kwargs})
        self.history.append((question, strip_markers(answer.text)))
        return answer

    def stream(self, question: str, **kwargs) -> Iterator:
        for item in self.assistant.stream(question, history=list(self.history),
                                          **{**self.ask_kwargs, **kwargs}):
            if not isinstance(item, str):
                self.history.append((question, strip_markers(item.text)))
            yield item

    def reset(self) -> None:
        self.history.clear()
