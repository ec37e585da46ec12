import pytest

from rag.language import detect


@pytest.mark.parametrize("q,lang", [
    ("Wer ist der Sprecher des Kremls?", "de"),
    ("Bis wann sollte Choe voraussichtlich in Moskau bleiben?", "de"),
    ("An welchem Wochentag fand das Treffen statt?", "de"),
    ("Aus welchem Gebiet halfen nordkoreanische Soldaten, ukrainische Truppen zu vertreiben?", "de"),
    ("Wie hoch ist die Inflation in Japan?", "de"),
    ("Who is the Kremlin spokesman?", "en"),
    ("From which region did North Korean soldiers help expel Ukrainian forces?", "en"),
    ("What anniversary was he there for?", "en"),
])
def test_detect(q, lang):
    assert detect(q) == lang
