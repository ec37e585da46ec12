"""English: question words, answer phrasing, and the words English answers are rendered with."""
import re

CODE = "en"

# Words after "what" that make it the subject or object of a verb, not a determiner (a past tense
# by its ending: "What caused ...?"; a noun in -ed, "What speed ...?", stays "what").
_VERB_AFTER_WHAT = (r"is|was|are|were|be|been|did|does|do|has|have|had|can|could|will|would|should|may|"
                    r"might|must|shall|happens?|happened|causes?|caused|makes?|made|leads?|led|[a-z]+ed|"
                    r"it|he|she|they|we|you|i|if|about|else|exactly")

QUESTION_KINDS = [
    ("other", re.compile(r"\bwhat (did|does|do|has|have|had) [\w\s'-]{0,40}\b(say|said|tell|told|write|wrote|claim|announce|warn|promise)\b")),
    ("count", re.compile(r"\b(how many|how much|how long|how old|how far|how high|how large|how big|how often|how tall|how fast|how deep|how wide|how heavy|what percentage|what number of|what proportion)\b")),
    ("when", re.compile(r"\b(which weekday|what weekday|which day of the week|when|what year|which year|what day|which day|what date|what time|which century|what century|what month|which month|what period|which period|what era)\b")),
    ("where", re.compile(r"\b(where|in which (city|country|town|state|region|place)|what (city|country|town|state|region|place))\b")),
    ("who", re.compile(r"\b(who|whom|whose|what is the name of|what was the name of|which (person|man|woman|player|president|politician))\b")),
    # "What" before a noun asks "which" ("What court case ...?", German "Welcher Fall ...?");
    # before a verb ("What is ...?", "What caused ...?") it asks "what".
    ("which", re.compile(r"\b(which|what kind|what type|what sort|what (?!(" + _VERB_AFTER_WHAT + r")\b)[a-z]+)\b")),
    ("why", re.compile(r"\b(why|for what reason)\b")),
    ("how", re.compile(r"\b(how)\b")),
    ("what", re.compile(r"\b(what)\b")),
]

PHRASES = {
    "according": "According to [{n}]",
    "also": "Also, according to [{n}]",
    "says": "The article says (German) [{n}]",
    # After a German quote, its words in English one by one (rag/render.py sentence_in_english).
    "word_for_word": "(word for word: \u201c{q}\u201d)",
    "abstain": "The articles I have don't say.",
    "abstain_closest": "The closest is \u201c{title}\u201d{gloss}, but it does not answer the question.",
    "quote": "\u201c{q}\u201d",
    "ask_question": "Please ask a question about the articles.",
}

MONTHS = {"january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
          "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
          "sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12}
MONTH_NAMES = ["", "January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December"]
WEEKDAYS = {"monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6}
WEEKDAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
TIME_WORDS = {"today", "yesterday", "tomorrow", "century", "decade", "year", "years", "month", "week",
              "weekend", "spring", "summer", "autumn", "fall", "winter", "early", "late", "mid", "night",
              "evening", "morning", "afternoon", "era", "age"}
GENITIVE_ARTICLES = {"of"}
# Negating words (see rag/lang/de.py).
NEGATIONS = {"not", "no", "never", "none", "nothing", "neither", "nor"}
NUMBER_WORDS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20, "hundred": 100,
                "thousand": 1000, "dozen": 12, "both": 2, "half": 0.5}
ORDINAL_STEMS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
                 "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "twentieth": 20,
                 "hundredth": 100}
ORDINAL_ENDINGS = ("",)
SCALES = {"million": "million", "millions": "million", "billion": "billion", "billions": "billion",
          "thousand": "thousand", "hundred": "hundred"}
UNITS = {}
PREPOSITIONS = {
    "where": {"in", "at", "to", "from", "near", "on"},
    "when": {"on", "in", "at", "since", "until", "before", "after", "during", "between", "from"},
}
ROLE = re.compile(r"(?i)^(president|minister|spokesman|spokeswoman|spokesperson|secretary|leader|"
                  r"chancellor|ambassador|envoy|king|queen|pope|coach|mayor|general|mr|mrs|ms|dr|prof)s?$")
WHO_IS = re.compile(r"^\s*(?:and\s+)?who\s+(?:is|was|are|were)\s+(?P<name>[^?!.]+?)\s*[?!.]*\s*$", re.IGNORECASE)
INSTRUCTION = re.compile(
    r"(?i)\b(ignore (all|any|the|previous|prior|your)|disregard (all|any|the|previous)|"
    r"(previous|prior|these|the following) instructions|you are (now )?(an? )?(ai|assistant|language model|chatbot)|"
    r"as an ai|system prompt|always (answer|respond|reply|say)|(answer|respond|reply) (only )?with|"
    r"tell the user)\b")
HINTS = {"who", "what", "where", "when", "why", "which", "how", "is", "are", "the", "and",
         "not", "has", "have", "with", "of", "many", "did", "does", "said", "about", "for",
         "was", "were", "according", "do", "to", "on", "at", "by", "from",
         "he", "she", "they", "it", "this", "that", "there", "year", "whom", "whose"}
# Endings an English question's word may carry that its dictionary entry lacks, each with what
# replaces it, tried in order after the word as written ("points" -> "point", "registered" ->
# "register", "carried" -> "carry"): rag/retrieval.py looks the word up in German through them.
INFLECTIONS = (("s", ""), ("es", ""), ("ies", "y"), ("ed", ""), ("d", ""), ("ied", "y"), ("ing", ""),
               ("ing", "e"))
# Words that make a phrase quoted from a German article English (a title, a name: "The Talons of
# Weng-Chiang", "Executive Vice President of Football Operations"): none is a German word, so
# rag/glossary.py keeps such a phrase as written instead of glossing its words as German.
PHRASE_MARKERS = frozenset({"the", "of", "and", "for", "with", "from", "by", "on"})
