"""Question answering over German news articles, in German and English, with cited sources.

    from rag import Assistant
    bot = Assistant.open()                 # embedded store in the checkout's store/, seeded from seeds/
    answer = bot.ask("Wer ist der Sprecher des Kremls?")
    print(answer.text, answer.citations)
"""
from .assistant import Assistant
from .results import Answer, Citation, FileProblem, IngestReport, Passage, RagError
from .settings import Settings

__all__ = ["Assistant", "Answer", "Citation", "FileProblem", "IngestReport", "Passage", "RagError",
           "Settings"]
