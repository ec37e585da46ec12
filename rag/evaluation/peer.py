"""The peer: llama-index's out-of-the-box pipeline over the same files with the same embedding
model, as the starter tutorial builds it (SimpleDirectoryReader -> VectorStoreIndex with the
default SentenceSplitter -> as_retriever() with the default similarity_top_k)."""
from __future__ import annotations

import os
from pathlib import Path

from .retrieval_eval import doc_id


class LlamaIndexPeer:
    def __init__(self, model_path: str, files: list[Path], query_prompt: str = "query: ",
                 passage_prompt: str = "passage: ", show_progress: bool = True):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        # The e5 prompts are the one thing set by hand: without them e5 is used against its
        # training, which would make the comparison unfair to the peer.
        self.embed_model = HuggingFaceEmbedding(model_name=model_path, query_instruction=query_prompt,
                                                text_instruction=passage_prompt, device="cpu",
                                                local_files_only=True)
        docs = SimpleDirectoryReader(input_files=[str(f) for f in files]).load_data()
        self.index = VectorStoreIndex.from_documents(docs, embed_model=self.embed_model,
                                                     show_progress=show_progress)
        self.default_retriever = self.index.as_retriever()
        self.default_k = int(self.default_retriever.similarity_top_k)
        self.nodes = len(self.index.docstore.docs)
        self._retrievers = {}

    def describe(self) -> dict:
        from llama_index.core import Settings as LISettings

        splitter = LISettings.node_parser
        return {"splitter": type(splitter).__name__, "chunk_size": getattr(splitter, "chunk_size", None),
                "chunk_overlap": getattr(splitter, "chunk_overlap", None),
                "default_similarity_top_k": self.default_k, "nodes": self.nodes,
                "max_seq_length": self.embed_model.max_length, **self.truncation()}

    def truncation(self) -> dict:
        """How much node text lies past the model's window. The splitter counts tokens with
        tiktoken, the model with its own XLM-R tokenizer, which needs more tokens for German: the
        tail of a long node is silently cut off before embedding and can never be found."""
        from llama_index.core.schema import MetadataMode

        tokenizer = self.embed_model._model.tokenizer
        limit = self.embed_model.max_length
        total = unseen = cut = 0
        for node in self.index.docstore.docs.values():
            text = self.embed_model.text_instruction + node.get_content(metadata_mode=MetadataMode.EMBED)
            offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True,
                                truncation=False, verbose=False)["offset_mapping"]
            total += len(text)
            if len(offsets) > limit - 2:    # <s> and </s> take two places in the window
                cut += 1
                unseen += len(text) - offsets[limit - 3][1]
        return {"nodes_truncated": cut, "chars_not_embedded": round(unseen / total, 4) if total else 0.0}

    @staticmethod
    def _docs(nodes) -> list[str]:
        return [doc_id(n.node.metadata.get("file_path") or n.node.metadata.get("file_name", ""))
                for n in nodes]

    def default_search(self, question: str) -> list[str]:
        return self._docs(self.default_retriever.retrieve(question))

    def search_k(self, k: int):
        if k not in self._retrievers:
            self._retrievers[k] = self.index.as_retriever(similarity_top_k=k)
        retriever = self._retrievers[k]
        return lambda question: self._docs(retriever.retrieve(question))
