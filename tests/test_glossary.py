"""English glosses of a German short answer's words (rag/glossary.py), from a dictionary in Ding's
format: what is glossed, what stays as the article writes it, and the parsed table's cache."""
from __future__ import annotations

import json
from pathlib import Path

from rag import glossary
from rag.render import sentence_in_english, short_answer

DING = """\
# Version :: 1.9
Küste {f} | Küsten {pl} :: coast | coasts
Stadt {f} | Städte {pl} :: town; city | towns; cities
Tor {n}; Pforte {f} | Tore {pl} :: goal; gate | goals
Regierung {f} [pol.] | Regierungen {pl} :: government /Gov.; Govt./; administration [Am.] | governments
die Regierung übernehmen :: to take office
Bund {m} (Verband) :: federation
fort {adv} :: away
Fort {n} [mil.] :: fort
Einwohner {m}; Einwohnerin {f} [geogr.] | Einwohner {pl} | 4% der Einwohner kommen aus der Türkei. :: inhabitant | inhabitants | 4% of the inhabitants come from Turkey.
feucht {adj} | feuchter | am feuchtesten :: humid | more humid | most humid
Stadtrat {m} :: town council
Heim {n} | Heime {pl} :: home | homes
Laut {m} | Laute {pl} :: sound | sounds
Patriot {m} | Patrioten {pl} :: patriot | patriots
Franzosen {pl}; Froschfresser {pl} [pej.] :: frogs [pej.]
Franzose {m}; Französin {f} | die Franzosen {pl} :: Frenchman; Frenchwoman | the French
Arzt {m}; Doktor {m} [ugs.] | Ärzte {pl} :: physician | physicians
Doktor {m} /Dr./ | Doktoren {pl} :: doctor /Dr/; doc [coll.] | doctors; docs
Weltkrieg {m} | Weltkriege {pl} :: world war | world wars
zweite; zweiter; zweites {adj} :: runner-up
demokratisch {adj} :: democratic
Volksrepublik {f} :: people's republic
Bericht {m} | Berichte {pl} :: report | reports
Talon {m} | Talons {pl} :: coupon | coupons
H {n} [mus.] :: B [mus.]
Modul {n} | Module {pl} :: module | modules
Pilot {m} | Piloten {pl} :: aviator | aviators
Route {f} | Routen {pl} :: route | routes
Mann {m} | Männer {pl} :: man | men
Michael {m} :: Mikhail
du {pron} :: you
Bürgermeister {m} | Bürgermeister {pl} :: mayor | mayors
Tat {f} | Taten {pl} :: act | acts
Praxis {f} :: practice
Apotheker {m} | Apotheker {pl} :: pharmacist | pharmacists
Unterzeichnung {f} :: signing
bis {prp} :: until
Staat {m} | Staaten {pl} :: state | states
vereinigt {adj} :: federal
Vereinigte Staaten {pl} von Amerika /USA/ [geogr.] | Vereinigte Staaten :: United States of America /USA/ | United States /US/
Rotes Kreuz; das Rote Kreuz :: Red Cross
rot {adj} :: red
Kreuz {n} | Kreuze {pl} :: cross | crosses
Sprache {f} | Sprachen {pl} :: language | languages
deutsch {adj} :: German
deutsche Sprache {f} :: German
mit der Geschwindigkeit von :: at the rate of
Geschwindigkeit {f} :: speed
vollenden {vt} :: to consummate sth
Behalten {n} :: retention of sb./sth
leben {vi} :: to live
"""


def table(tmp_path, text=DING):
    path = tmp_path / "de-en"
    path.write_text(text, encoding="utf-8")
    return glossary.Glossary(*glossary._read(path))


def test_parse_takes_the_headword_sense_without_annotations():
    words = glossary.parse(DING.splitlines())
    assert words["Stadt"] == "town" and words["Städte"] == "towns"
    # The abbreviation holds a semicolon; the first sense is still "government".
    assert words["Regierung"] == "government" and words["Regierungen"] == "governments"
    assert words["Einwohner"] == "inhabitant"        # the headword's line, not the plural's
    assert "die Regierung übernehmen" not in words and "4%" not in " ".join(words)   # phrases, examples
    assert words["fort"] == "away" and words["Fort"] == "fort"     # case kept: nouns apart
    # A slur's sense only when there is no other; the article of a listed form is not the word's.
    assert words["Franzosen"] == "French" and words["Froschfresser"] == "frogs"
    # The label marks its own synonym: "Doktor [ugs.]" for a physician, "doc [coll.]" for a doctor.
    assert words["Doktor"] == "doctor" and words["Arzt"] == "physician"


def test_a_short_answer_is_glossed_word_by_word(tmp_path):
    g = table(tmp_path)
    assert short_answer("die Tore", "en", g) == "the goals"
    assert short_answer("der feuchten Küste", "en", g) == "the humid coast"     # inflected forms
    assert short_answer("Küstenstadt", "en", g) == "coast town"                 # a compound by its parts
    # A dative plural is the plural and "n" (it was glossed as the singular: "Heim" + "en").
    assert short_answer("in den Heimen", "en", g) == "in the homes"
    assert short_answer("Der Zweite Weltkrieg", "en", g) == "the Second world war"   # ordinals by rule
    assert short_answer("Demokratische Volksrepublik", "en", g) == "Democratic people's republic"
    assert short_answer("Einwohner", "de", g) == "Einwohner"                    # German readers: as written
    # The rendering shortened the phrase ("im Jahr 2000" -> "in 2000"); the words after it are
    # still glossed (they stayed German when words were paired by position).
    assert short_answer("im Jahr 2000 die Stadt", "en", g) == "in 2000 the town"


def test_a_quote_is_glossed_word_for_word_its_punctuation_kept(tmp_path):
    """An English reader gets each German quote word for word after it: every run between
    punctuation marks as a short answer is glossed, dates and numbers rendered wherever they
    stand, the marks kept (a comma inside "3,5" is a decimal point, not a mark)."""
    g = table(tmp_path)
    assert sentence_in_english("Die Stadt hat am Samstag 3,5 Millionen Einwohner gezählt, sagte der "
                               "Bürgermeister (Peskow).", g) == \
        "The town has on Saturday 3.5 million inhabitants gezählt, sagte the mayor (Peskow)."
    assert sentence_in_english("„Die Vereinigten Staaten“: 1870 bis 1939", g) == "„the United States“: 1870 to 1939"
    assert sentence_in_english("Am 3. Oktober 2023 kamen z. B. 500 Einwohner!", g) == \
        "On 3 October 2023 kamen z. B. 500 inhabitants!"
    # A date anywhere in the sentence ("am 28. Mai", "im Jahr 1763"), not only at its start.
    assert sentence_in_english("Die Stadt am 28. Mai und im Jahr 1763.", g) == "The town on 28 May and in 1763."
    # The dictionary's stand-ins for an object go: a text has its own.
    assert sentence_in_english("Die Stadt vollenden.", g) == "The town to consummate."
    # Conjugated verbs the dictionary has only as infinitives, and modal verbs, in a quote; a
    # short answer keeps the gloss the reader's models learned with.
    assert sentence_in_english("Die Einwohner lebten in der Stadt, sie konnten es.", g) == \
        "The inhabitants live in the town, they could it."
    assert short_answer("lebten", "en", g) == "lebten"
    assert glossary.without_placeholders("the retention of sb./sth") == "the retention"
    assert glossary.without_placeholders("sb.’s readiness to put sth") == "readiness to put"


VERBS = """\
treffen {vt} | treffend | getroffen | er/sie trifft | ich/er/sie traf | er/sie hat/hatte getroffen :: to meet {met; met} | meeting | met | he/she meets | I/he/she met | he/she has/had met
bedrohen {vt} | bedrohend | bedroht | er/sie bedroht | ich/er/sie bedrohte :: to threaten | threatening | threatened | he/she threatens | I/he/she threatened
geben {vt} | gebend | gegeben | er/sie gibt | ich/er/sie gab :: to give | giving | given | he/she gives | I/he/she gave
etw. aufführen {vt} | aufführend | aufgeführt | gibt | gab :: to perform sth. | performing | performed | performs | performed
zeigen {vt} | zeigend | gezeigt | er/sie zeigt | ich/er/sie zeigte :: to show | showing | shown | he/she shows | I/he/she showed
glauben; finden {vi} | glaubend; findend | geglaubt; gefunden | ich/er/sie glaubte; ich/er/sie fand :: to believe; to find | believing; finding | believed; found | I/he/she believed; I/he/she found
anziehen {vt} | anziehend | angezogen | ich/er/sie zog an :: to attract | attracting | attracted | I/he/she attracted
selbst {pron} | ich selbst :: self | I myself
Präsidentschafts…; Präsidenten… :: presidential
Präsident {m} | Präsidenten {pl} :: president | presidents
Pjöngjang (Hauptstadt von Nordkorea) [geogr.] :: Pyongyang (capital of North Korea)
Abfall {m} [geogr.] :: slant
nach {prp; +Dat.} :: after
Kreml {m} :: Kremlin
Sprecher {m} | Sprecher {pl} :: spokesman | spokesmen
"""


def test_a_quote_glosses_a_conjugated_verb_as_the_dictionary_lists_it(tmp_path):
    """A strong verb's past stayed German in a quote's word-for-word English ("Lawrow traf Kim"),
    and a form listed in another verb's line won ("gibt" -> "performs"): the conjugated forms of
    the dictionary's verb lines come first, without their pronouns."""
    verbs = glossary.parse_verb_forms(VERBS.splitlines())
    assert verbs["traf"] == "met" and verbs["trifft"] == "meets" and verbs["gab"] == "gave"
    assert verbs["fand"] == "found"            # synonym with synonym, not "believed"
    # Left out: a present form that is also the participle ("wurde bedroht"), a form of two
    # words ("zog an"), and a line that is no verb's ("ich selbst :: I myself").
    assert "bedroht" not in verbs and "zog" not in verbs and "selbst" not in verbs
    g = table(tmp_path, DING + VERBS)
    assert sentence_in_english("Der Bürgermeister traf Peskow, die Einwohner trafen ihn.", g) == \
        "The mayor met Peskow, the inhabitants met ihn."
    assert sentence_in_english("Die Stadt wurde bedroht und zeigte es, sie zeigten es.", g) == \
        "The town was threatened and showed it, they showed it."
    assert sentence_in_english("Es gibt 500 Einwohner, gab es eine Stadt?", g) == \
        "There is 500 inhabitants, there was a town?"
    assert sentence_in_english("Der Bürgermeister gibt 500.", g) == "The mayor gives 500."
    # "nach" before a place (a name the dictionary labels geographic) is "to".
    assert glossary.parse_places(VERBS.splitlines()) == {"Pjöngjang"}
    assert sentence_in_english("Peskow reiste nach Pjöngjang, nach Abfall und nach Peskow.", g) == \
        "Peskow reiste to Pyongyang, after slant and after Peskow."
    # A separable verb's particle at the end of a clause is no article.
    assert sentence_in_english("Die Stadt zeigte 500 Einwohner ein.", g) == "The town showed 500 inhabitants in."
    # A preposition the dictionary heads as a noun, first in its sentence (was "Sound town").
    assert sentence_in_english("Laut Stadtrat traf er die Regierung.", g) == \
        "According to town council met he the government."
    # A hyphenated word of dictionary words only, part by part.
    assert sentence_in_english("Der Kreml-Sprecher traf ihn.", g) == "The Kremlin spokesman met ihn."
    # Short answers keep the gloss the reader's models learned with.
    assert short_answer("traf", "en", g) == "traf" and short_answer("Kreml-Sprecher", "en", g) == "Kreml-Sprecher"
    # As the reader shows one, its hyphenated compound reads as in the quote (it stayed German:
    # "“Kreml-Sprecher”" for "Who is Peskov?"); its verbs stay (a verb alone is no answer).
    assert short_answer("Kreml-Sprecher", "en", g, shown=True) == "Kremlin spokesman"
    assert short_answer("traf", "en", g, shown=True) == "traf"
    # "Präsidenten…" starts compounds (presidential): the word is the plural.
    assert short_answer("Präsidenten", "en", g) == "presidents"


def test_the_answers_report_measures_the_german_a_quotes_english_keeps(tmp_path):
    from rag.evaluation import answer_eval

    text = ["Der Bürgermeister traf Peskow und schwieg. Peskow gab es."]
    # Lower-case words: traf, und, schwieg, gab, es; "schwieg" is in no dictionary line, "traf"
    # only in a verb line's conjugations ("gab es" is "there was" by rule).
    assert answer_eval.words_left_german(text, table(tmp_path, DING + VERBS)) == {"words": 5, "left": 1 / 5}
    assert answer_eval.words_left_german(text, table(tmp_path)) == {"words": 5, "left": 2 / 5}
    assert answer_eval.words_left_german(text, None) == {"words": 0, "left": None}


def test_names_numbers_and_dates_stay_as_rendered(tmp_path):
    g = table(tmp_path)
    # An English word before a name stays, though German has it too (it was "fort Duquesne").
    assert short_answer("Fort Duquesne", "en", g) == "Fort Duquesne"
    assert short_answer("New England Patriots", "en", g) == "New England Patriots"   # English inside a name
    assert short_answer("Wŏnsan", "en", g) == "Wŏnsan"
    assert short_answer("am Samstag", "en", g) == "on Saturday"
    assert short_answer("1,5 Millionen Einwohner", "en", g) == "1.5 million inhabitants"


def test_english_titles_hyphenated_names_initials_and_decades(tmp_path):
    """What the dev articles' gold answers showed wrong (dev contains of the German gold spans
    rendered for English questions 55.4 -> 59.0 %): an English title glossed as German, a
    hyphenated compound left German, an initial taken for a word, a German decade."""
    g = table(tmp_path)
    # "of" and "the" are no German words: the phrase is English already ("Talons" is German too).
    assert short_answer("The Talons of Weng-Chiang", "en", g) == "The Talons of Weng-Chiang"
    assert short_answer("die Talons", "en", g) == "the coupons"
    # Capitalised common English words together: a name in English ("Module", "Pilot" are German too).
    assert short_answer("Lunar Module Pilot", "en", g) == "Lunar Module Pilot"
    assert short_answer("State Route 41", "en", g) == "State Route 41"      # numbers aside
    assert short_answer("die Piloten", "en", g) == "the aviators"
    # A hyphenated compound by its last part, the name before it as written.
    assert short_answer("dem WWF-Bericht", "en", g) == "the WWF report"
    assert short_answer("Stadt-Bericht", "en", g) == "Stadt-Bericht"      # German words throughout: as written
    assert short_answer("H. Brocard", "en", g) == "H. Brocard"            # not the note B
    assert short_answer("in den 1950er Jahren", "en", g) == "in the 1950s"
    assert short_answer("die 90er-Jahre", "en", g) == "the 90s"
    assert short_answer("der 1960er und 1970er", "en", g) == "the 1960s and 1970s"
    assert short_answer("im 19. Jahrhundert", "en", g) == "in the 19th century"


def test_a_phrase_of_names_only_is_a_name(tmp_path):
    g = table(tmp_path)
    assert g.is_name("Dmitri Peskow") and g.is_name("Kim Jong-un") and g.is_name("Wŏnsan")
    # A dictionary word makes it German words, in a hyphenated compound too.
    assert not g.is_name("Bürgermeister Peskow") and not g.is_name("Paria-Staaten")
    assert not g.is_name("die Tore") and not g.is_name("") and not g.is_name("2026")


def test_a_name_with_initials_stays_as_written(tmp_path):
    g = table(tmp_path)
    # The dictionary knows "Michael", "Mann" and "du", but beside an initial they are a name.
    assert short_answer("Michael E. Mann, Raymond S. Bradley und Malcolm K. Hughes", "en", g) == \
        "Michael E. Mann, Raymond S. Bradley and Malcolm K. Hughes"
    assert short_answer("E. I. du Pont", "en", g) == "E. I. du Pont"
    # A title before the initial is still glossed; so are the words after the name.
    assert short_answer("Bürgermeister W. Haydon Burns", "en", g) == "mayor W. Haydon Burns"
    assert short_answer("H. Brocard und die Stadt", "en", g) == "H. Brocard and the town"
    assert short_answer("die E. coli", "en", g) == "the E. coli"
    # Only the surname: a noun after it is German again; "z. B." is no initial.
    assert short_answer("Die T. T. Tsui Stadt", "en", g) == "the T. T. Tsui town"
    assert "B. town" in short_answer("Küsten, z. B. Stadt", "en", g)


def test_genitives_repeated_words_and_names_before_inflected_words(tmp_path):
    """What the dev articles' gold answers showed wrong next (dev contains of the German gold
    spans rendered for English questions 59.3 -> 59.5 %, F1 73.8 -> 74.0): "der" after a noun
    read as "the", "bis zur" as "to to the", a surname read as an inflected German noun."""
    g = table(tmp_path)
    assert short_answer("die Praxis der Apotheker", "en", g) == "the practice of the pharmacist"
    assert short_answer("in der Stadt", "en", g) == "in the town"              # no noun before it
    assert short_answer("1756 bis zur Unterzeichnung", "en", g) == "1756 to the signing"
    # "Tate" is "Tat" with an ending, but after a name it is a name: it was "Catherine act".
    assert short_answer("Catherine Tate", "en", g) == "Catherine Tate"
    assert short_answer("die Taten", "en", g) == "the acts"
    assert short_answer("Catherine, Taten", "en", g) == "Catherine, acts"


def test_dictionary_phrases_are_glossed_whole_in_any_declension(tmp_path):
    """Word by word, "den Vereinigten Staaten" was "the federal States" and "des Roten Kreuzes"
    "of the red cross": a news archive's commonest names. Chosen on the dev articles' gold
    answers (the German gold span rendered for the English question: contains 59.5 -> 59.8 %,
    F1 74.0 -> 74.3)."""
    g = table(tmp_path)
    assert short_answer("den Vereinigten Staaten", "en", g) == "the United States"
    assert short_answer("Die Vereinigten Staaten", "en", g) == "the United States"
    assert short_answer("des Roten Kreuzes", "en", g) == "of the Red Cross"      # genitive noun
    assert short_answer("die Stadt und das Rote Kreuz", "en", g) == "the town and the Red Cross"
    # An English shorter than the German's content words is a paraphrase that loses a word;
    # phrases of one content word are idioms of function words ("mit der": "whereby").
    assert short_answer("der deutschen Sprache", "en", g) == "the German language"
    assert short_answer("mit der Geschwindigkeit", "en", g) == "with the speed"
    # Across punctuation it is no phrase.
    assert short_answer("Vereinigte, Staaten", "en", g) == "Federal states"
    phrases = glossary.parse_phrases(DING.splitlines())
    # Two content words or more, no verbs ("die Regierung übernehmen :: to take office").
    assert phrases == {"vereinigt staaten": "United States", "rot kreuz": "Red Cross",
                       "vereinigt staat von amerika": "United States of America"}


def test_the_parsed_table_is_cached_and_renewed_when_the_dictionary_changes(tmp_path):
    path = tmp_path / "de-en"
    path.write_text(DING, encoding="utf-8")
    assert glossary._read(path)[0]["Stadt"] == "town"
    cache = json.loads((tmp_path / "de-en.glossary.json").read_text(encoding="utf-8"))
    assert cache["words"]["Stadt"] == "town" and cache["phrases"]["rot kreuz"] == "Red Cross"
    assert cache["german_words"]["city"] == ["Stadt"]
    path.write_text(DING.replace(":: town; city", ":: city; town") + "Hafen {m} :: harbour\n", encoding="utf-8")
    words = glossary._read(path)[0]
    assert words["Stadt"] == "city" and words["Hafen"] == "harbour"


def test_an_english_word_has_the_german_words_the_dictionary_gives_for_it_in_its_order(tmp_path):
    g = table(tmp_path, DING + "Gebiet {n}; Bereich {m} | Gebiete {pl} :: area; region | areas\n"
                              "Region {f} | Regionen {pl} :: region | regions\n"
                              "registrieren; eintragen {vt} | registrierte :: to register | registered\n")
    # Every sense counts ("region" is the second of "Gebiet"); a headword column before the other
    # forms, a first sense before a second, an earlier line first; one word on either side.
    assert g.german("region") == ["Region", "Gebiet", "Bereich"]
    assert g.german("frogs") == ["Franzosen", "Froschfresser"]
    assert g.german("French") == [] and g.german("United") == []       # "the French", "United States"
    assert g.german("town") == ["Stadt"] and g.german("cities") == ["Städte"]
    # An inflected English word is looked up without its ending.
    assert g.german("regions") == ["Regionen"] and g.german("areas") == ["Gebiete"]
    assert g.german("registering") == ["registrieren", "eintragen"] and g.german("crosses") == ["Kreuze"]
    assert g.german("lived") == ["leben"] and g.german("Kuchen") == []


def test_without_a_dictionary_there_is_no_glossary(tmp_path, caplog):
    assert glossary.load(None) is None
    assert glossary.load(tmp_path / "missing") is None
    assert glossary.load(tmp_path) is None            # a folder
    # RAG_DICTIONARY=none: turned off on purpose is quiet; a dictionary that should be there and
    # is not is said.
    caplog.clear()
    assert glossary.load(Path("none")) is None and not caplog.records
    assert glossary.load(tmp_path / "gone") is None and "make dictionary" in caplog.text
    assert short_answer("die Küste", "en", None) == "die Küste"
