"""German: question words, answer phrasing, dates, numbers, units, instruction markers."""
import re

CODE = "de"

# (kind, pattern) on the lower-cased question padded with spaces; the earliest match wins.
QUESTION_KINDS = [
    # What someone said is not a phrase to extract: the sentence is the answer.
    ("other", re.compile(r"\bwas (sagte|sagten|sagt|meinte|erklärte|betonte|forderte|kritisierte|berichtete|schrieb|antwortete|versprach|warnte)\b|\bwas [\w\s-]{0,40}\b(gesagt|erklärt|betont|gefordert|geschrieben|geantwortet|versprochen|gewarnt)\b")),
    # Inflected too: "Mit wie vielen ...?", "Wie lange ...?" (they fell through to "how").
    ("count", re.compile(r"\b(wie viele[nrs]?|wieviele[nrs]?|wie viel|wieviel|wie hoch|wie groß|wie lange?|wie alt|wie weit|wie schwer|wie oft|welche anzahl|wie stark|wie schnell|wie tief|wie breit|wie teuer)\b")),
    ("when", re.compile(r"\b(an welchem wochentag|welche[mns]? wochentag|wann|seit wann|bis wann|in welchem jahr|in welchem jahrhundert|in welchem monat|an welchem tag|welches datum|in welcher zeit|zu welcher zeit|um wie viel uhr)\b")),
    ("where", re.compile(r"\b(wo|wohin|woher|in welche[rmns]? (stadt|land|ort|region|staat|gegend|bundesland|teil)|an welche[rmn]? ort|aus welche[rmn]? (stadt|land))\b")),
    ("who", re.compile(r"\b(wer|wen|wem|wessen|wie hei(ß|ss)t|wie hie(ß|ss)|welche[rsmn]? (person|mann|frau|politiker|spieler|präsident|minister))\b")),
    ("which", re.compile(r"\b(welche[rsmn]?|was für)\b")),
    ("why", re.compile(r"\b(warum|wieso|weshalb|weswegen|aus welchem grund)\b")),
    # Asking for a name or term, not a manner: "Wie lautet der Nachname ...?", "Wie nennt man ...?"
    ("what", re.compile(r"\b(wie laute(t|te|n|ten)|wie nenn(t|en)|wie nannten?|wie bezeichne(t|n)|wie hei(ß|ss)en)\b")),
    ("how", re.compile(r"\b(wie)\b")),
    ("what", re.compile(r"\b(was|wofür|womit|worüber|wodurch|woraus|wovon|worauf|wozu)\b")),
]

PHRASES = {
    "according": "Laut [{n}]",
    "also": "Außerdem laut [{n}]",
    "says": "Im Artikel [{n}] steht",
    "word_for_word": "",        # the quotes are German already
    "abstain": "Dazu steht nichts in den Artikeln, die mir vorliegen.",
    "abstain_closest": "Am nächsten kommt „{title}“{gloss}, beantwortet die Frage aber nicht.",
    "quote": "„{q}“",
    "ask_question": "Bitte stellen Sie eine Frage zu den Artikeln.",
}

MONTHS = {"januar": 1, "jänner": 1, "jan": 1, "februar": 2, "feber": 2, "feb": 2, "märz": 3,
          "maerz": 3, "mär": 3, "april": 4, "apr": 4, "mai": 5, "juni": 6, "jun": 6, "juli": 7,
          "jul": 7, "august": 8, "aug": 8, "september": 9, "sept": 9, "sep": 9, "oktober": 10,
          "okt": 10, "november": 11, "nov": 11, "dezember": 12, "dez": 12}
WEEKDAYS = {"montag": 0, "dienstag": 1, "mittwoch": 2, "donnerstag": 3, "freitag": 4, "samstag": 5,
            "sonnabend": 5, "sonntag": 6}
# Relative time words a "when" answer can be.
TIME_WORDS = {"heute", "gestern", "morgen", "vorgestern", "übermorgen", "damals", "jahrhundert",
              "jahrzehnt", "jahr", "jahren", "monat", "woche", "wochenende", "frühjahr", "sommer",
              "herbst", "winter", "anfang", "ende", "mitte", "uhr", "nacht", "abend", "morgens", "abends",
              "vormittag", "nachmittag", "jahrhunderts", "ära", "zeit", "bronzezeit"}
# "am vergangenen Sonntag", "im nächsten Jahr", "in dieser Woche": the English says "last Sunday",
# "next year", "this week" (rag/render.py), without the preposition and article before them.
RELATIVE_TIME = {"vergangen": "last", "letzt": "last", "vorig": "last", "kommend": "next",
                 "nächst": "next", "dies": "this"}
RELATIVE_TIME_LEAD = {"am", "im", "in", "an", "der", "den", "dem"}
TIME_NOUNS_EN = {"woche": "week", "monat": "month", "monats": "month", "jahr": "year", "jahres": "year",
                 "wochenende": "weekend", "frühjahr": "spring", "sommer": "summer", "herbst": "autumn",
                 "winter": "winter", "nacht": "night", "abend": "evening"}
# Negating words: a phrase right before one that ends its clause ("verriet er jedoch nicht.") is
# no short answer, which would say the opposite (rag/reader.py `_negated`).
# A genitive article after a noun continues its phrase ("Sprecher des Kremls").
GENITIVE_ARTICLES = {"des", "der"}
NEGATIONS = {"nicht", "kein", "keine", "keinen", "keinem", "keiner", "keines", "nie", "niemals", "nichts",
             "weder"}
NUMBER_WORDS = {"null": 0, "ein": 1, "eine": 1, "einen": 1, "eins": 1, "zwei": 2, "drei": 3, "vier": 4,
                "fünf": 5, "sechs": 6, "sieben": 7, "acht": 8, "neun": 9, "zehn": 10, "elf": 11,
                "zwölf": 12, "zwanzig": 20, "dreißig": 30, "vierzig": 40, "fünfzig": 50, "hundert": 100,
                "tausend": 1000, "dutzend": 12, "beiden": 2, "beide": 2, "hälfte": 0.5}
# Ordinal words (any ending: vierte, vierten, vierter ...) and their numbers: "in der vierten
# Liga" states the "4th league" of an English claim.
ORDINAL_STEMS = {"erst": 1, "zweit": 2, "dritt": 3, "viert": 4, "fünft": 5, "sechst": 6, "siebt": 7,
                 "siebent": 7, "acht": 8, "neunt": 9, "zehnt": 10, "elft": 11, "zwölft": 12,
                 "zwanzigst": 20, "hundertst": 100}
ORDINAL_ENDINGS = ("e", "en", "er", "es", "em")
SCALES = {"millionen": "million", "million": "million", "mio": "million", "mio.": "million",
          "milliarden": "billion", "milliarde": "billion", "mrd": "billion", "mrd.": "billion",
          "billionen": "trillion", "tausend": "thousand", "hundert": "hundred"}
# German unit and counted-noun words rendered in English answers.
UNITS = {"prozent": "percent", "euro": "euros", "dollar": "dollars", "franken": "francs",
         "pfund": "pounds", "kilometer": "kilometres", "meter": "metres", "zentimeter": "centimetres",
         "quadratkilometer": "square kilometres", "kilogramm": "kilograms", "tonnen": "tonnes",
         "grad": "degrees", "jahre": "years", "jahren": "years", "jahr": "year", "monate": "months",
         "monaten": "months", "wochen": "weeks", "tage": "days", "tagen": "days", "stunden": "hours",
         "minuten": "minutes", "sekunden": "seconds", "einwohner": "inhabitants", "menschen": "people",
         "personen": "people", "mitglieder": "members", "stimmen": "votes", "punkte": "points",
         "tore": "goals", "spiele": "games", "mal": "times", "prozentpunkte": "percentage points",
         "%": "%", "km": "km", "kg": "kg", "m": "m",
         # Dative plurals ("nach 30 Kilometern") and units the first list lacked.
         "kilometern": "kilometres", "metern": "metres", "zentimetern": "centimetres",
         "meilen": "miles", "meile": "mile", "hektar": "hectares", "liter": "litres", "litern": "litres",
         "einwohnern": "inhabitants", "mitgliedern": "members", "punkten": "points", "toren": "goals",
         "spielen": "games", "monat": "month", "woche": "week", "tag": "day", "stunde": "hour"}
# Prepositions before the asked-for phrase, by kind of question.
PREPOSITIONS = {
    "where": {"in", "im", "nach", "aus", "bei", "an", "am", "auf", "vor", "zu", "zum", "zur", "über", "durch"},
    "when": {"am", "im", "seit", "bis", "um", "ab", "vor", "nach", "während", "zwischen", "von", "anfang", "ende", "mitte"},
}
# Honorifics and job titles that stand before names (German capitalises every noun, so a run of
# capitalised words is not yet a name).
ROLE = re.compile(r"(?i)^(?:\w*-)?\w*(präsident|minister|sprecher|chef|kanzler|führer|leiter|direktor|"
                  r"botschafter|diplomat|gesandte|machthaber|sekretär|general|könig|königin|papst|meister|"
                  r"vorsitzende|kommissar|trainer|bürgermeister|abgeordnete|herr|frau|dr|prof)(in|innen|en|s|r|n)?$")
# "Wer ist Dmitri Peskow?": a question about the person a name names, answered by what the
# articles call them ("Kremlsprecher"), never by a name (rag/reader.py, best_span).
WHO_IS = re.compile(r"^\s*(?:und\s+)?wer\s+(?:ist|war|sind|waren)\s+(?:eigentlich\s+|denn\s+)?"
                    r"(?P<name>[^?!.]+?)\s*[?!.]*\s*$", re.IGNORECASE)
# Sentences that give orders to an assistant or the reader: never an answer.
INSTRUCTION = re.compile(
    r"(?i)\b(anweisung(en)?|ignorier\w*|vergiss\w*|antworte\w*|du bist (ein|eine|jetzt)|"
    r"als (ki|sprachmodell|assistent)|gib (immer|nur|stets)|sag(e|t)? (immer|stets|dem nutzer|den nutzern)|"
    r"systemprompt|befehl(e)? an)\b")
# Function words that settle the language of short questions.
HINTS = {"wer", "wie", "was", "wo", "wann", "warum", "wieso", "weshalb", "welche", "welcher",
         "welches", "wen", "wem", "wessen", "ist", "sind", "der", "die", "das", "und", "nicht",
         "hat", "haben", "mit", "den", "von", "viele", "sagte", "über", "für", "wurde", "laut",
         "im", "am", "zum", "zur", "des", "dem", "ein", "eine", "einen", "auch", "nach", "bei",
         "sich", "es", "er", "sie", "wir", "ich", "auf", "aus", "jahr", "heute", "besuchte",
         "heißt", "gibt", "wurden", "war", "welchen", "worüber", "wofür", "womit"}

# German function words in English, for a short answer rendered word by word (rag/glossary.py):
# the dictionary lists them under many senses, the first often not the usual one ("der" as "that",
# "zwischen" as "'tween"). An empty string drops the word ("sich"). "und", "bis" and "über" are not
# here: rag/render.py writes them in English before any gloss.
FUNCTION_WORDS_EN = {
    "der": "the", "die": "the", "das": "the", "den": "the", "dem": "the", "des": "of the",
    "ein": "a", "eine": "a", "einen": "a", "einem": "a", "einer": "a", "eines": "of a",
    "oder": "or", "aber": "but", "sowie": "as well as", "wie": "as", "dass": "that",
    "von": "of", "vom": "of the", "mit": "with", "für": "for", "zwischen": "between",
    "unter": "under", "nach": "after", "vor": "before", "bei": "at", "beim": "at the", "aus": "from",
    "zu": "to", "zum": "to the", "zur": "to the", "als": "as", "auf": "on", "an": "at", "am": "at the",
    "in": "in", "im": "in the", "ins": "into the", "durch": "through", "gegen": "against",
    "ohne": "without", "um": "around", "seit": "since", "während": "during",
    "wegen": "because of", "nicht": "not", "kein": "no", "keine": "no",
    # Prepositions the dictionary heads as nouns ("Laut": sound, "Trotz": defiance), which a
    # sentence's first word, capitalised, was read as: "Laut russischen Medien ...".
    "laut": "according to", "trotz": "despite", "gemäß": "according to", "sowohl": "both",
    "sein": "his", "seine": "his", "seiner": "his", "seinen": "his", "seinem": "his", "seines": "his",
    "ihr": "her", "ihre": "their", "ihrer": "their", "ihren": "their", "ihrem": "their", "ihres": "their",
    "sie": "they", "er": "he", "es": "it", "wir": "we", "ich": "I", "man": "one", "sich": "",
    "dieser": "this", "diese": "this", "dieses": "this", "diesem": "this", "diesen": "this",
    "mehr": "more", "sehr": "very", "auch": "also", "nur": "only", "noch": "still", "alle": "all",
    "allen": "all", "viele": "many", "vielen": "many", "einige": "some", "andere": "other",
    "anderen": "other", "ist": "is", "sind": "are", "war": "was", "waren": "were", "wird": "is",
    "werden": "are", "wurde": "was", "wurden": "were", "hat": "has", "haben": "have", "hatte": "had",
}
# Modal and auxiliary verbs, whose conjugated forms the dictionary lacks ("kann", "konnte"): for a
# quote glossed word for word (rag/glossary.py `gloss(..., quote=True)`).
AUXILIARIES_EN = {
    "hatten": "had", "habe": "have", "hätte": "would have", "hätten": "would have", "wäre": "would be",
    "wären": "would be", "würde": "would", "würden": "would", "kann": "can", "können": "can",
    "konnte": "could", "konnten": "could", "könnte": "could", "könnten": "could", "muss": "must",
    "müssen": "must", "musste": "had to", "mussten": "had to", "sollte": "should", "sollten": "should",
    "darf": "may", "dürfen": "may", "durfte": "was allowed to", "wollte": "wanted to",
    "wollten": "wanted to",
}
# Before a place (the dictionary's geographic names), "nach" is "to", not "after": "nach Pjöngjang".
BEFORE_PLACE_EN = {"nach": "to"}
# A separable verb's particle ending a clause whose verb the dictionary does not list with it:
# "binden ... ein" is "bind in" (einbinden), not "bind a".
CLAUSE_FINAL_PARTICLES_EN = {"ein": "in"}
# "es gibt" is "there is", not "it gives": for a quote glossed word for word, either order.
IMPERSONAL_EN = {"es gibt": "there is", "gibt es": "there is", "es gab": "there was", "gab es": "there was",
                 "es geht um": "it is about", "geht es um": "it is about"}
# After a noun these articles are genitives ("die Praxis der Apotheker": "the practice of the
# pharmacists", not "the practice the pharmacists").
GENITIVE_EN = {"der": "of the", "einer": "of a"}
# Endings stripped, in this order, to find an inflected word's dictionary form ("feuchten").
INFLECTION_ENDINGS = ("e", "en", "er", "es", "em", "n", "s", "ern")
# A noun's, in the order tried: "n" first, since a dative plural is the plural and "n"
# ("Jahren" is "Jahre", years, not "Jahr" + "en").
NOUN_INFLECTION_ENDINGS = ("n", "e", "en", "er", "es", "em", "s", "ern")
# A weak verb's past and present endings, longest first, and its participle's prefix: "lebten",
# "lebte", "lebt", "gelebt" are all "leben" (rag/glossary.py `_verb`).
VERB_ENDINGS = ("test", "ten", "tet", "te", "st", "et", "t")
PARTICIPLE_PREFIX = "ge"
# A dictionary phrase's words before its noun are adjectives, declined in a text ("Vereinigte
# Staaten", "den Vereinigten Staaten"): phrases are looked up with these endings taken off them,
# longest first, and with the noun as written or without a case ending ("des Roten Kreuzes").
ADJECTIVE_ENDINGS = ("en", "em", "er", "es", "e")
NOUN_CASE_ENDINGS = ("es", "s", "n")
# Lower-case words inside a person's name ("E. I. du Pont", "Ludwig van Beethoven"): after an
# initial they belong to the name, not to German ("du" is not "you").
NAME_PARTICLES = frozenset({"du", "de", "da", "di", "del", "della", "van", "von", "vom", "zu", "la", "le",
                            "ter", "ten"})
# Linking letters between the parts of a compound ("Küste-n-stadt", "Arbeit-s-markt"), tried
# before none: "Küsten" is also a plural ("coasts town").
COMPOUND_LINKS = ("s", "n", "es", "en", "e", "")
