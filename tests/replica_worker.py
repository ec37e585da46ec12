"""A second app replica for tests/test_replicas.py: one Assistant in its own process, driven by
JSON lines on stdin (settings come from RAG_* env vars), answering one JSON line per command."""
import json
import sys


def main() -> None:
    from rag import Assistant, Settings

    bot = Assistant.open(Settings.from_env(), seed=False)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "ingest":
            r = bot.ingest(cmd["paths"])
            out = {"added": r.added, "unchanged": r.unchanged, "chunks_added": r.chunks_added,
                   "failed": [f.reason for f in r.failed]}
        elif op == "remove":
            r = bot.remove(cmd["sources"])
            out = {"removed": r.removed}
        elif op == "search":
            out = {"sources": [p.source for p in bot.search(cmd["q"], k=cmd.get("k", 5), mode=cmd["mode"])]}
        elif op == "lexical_ids":
            bot.search("Nachrichten", mode="lexical")     # a search brings the index up to date
            out = {"ids": sorted(bot.store.lexical.ids())}
        else:
            out = {"error": f"unknown op {op}"}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
