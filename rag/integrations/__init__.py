"""Adapters that plug this pipeline into other frameworks (see llama_index.py)."""
