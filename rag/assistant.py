"""The assistant: one object that the CLI, the UI and the eval use, with its collaborators passed in.

It keeps the embedder (loaded on first use) and the loaded index, and reloads the index when a
build elsewhere switched it, so a running UI sees a rebuilt index without a restart.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterator

from rag.answer.extractive import ExtractiveAnswerer
from rag.answer.generated import GeneratedAnswerer, collect
from rag.errors import QuestionError
from rag.indexing.builder import Indexer, IndexReport, expected_manifest
from rag.indexing.lexical import tokenize
from rag.indexing.store import IndexData, IndexStore
from rag.ingest.corpus import load_corpus
from rag.models.embedder import Embedder, SentenceTransformerEmbedder
from rag.retrieval.hybrid import HybridRetriever
from rag.settings import Settings
from rag.types import Answer, Preview, RetrievalResult


def check_question(question: str, max_chars: int) -> str:
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    q = " ".join(question.split())
    if not q:
        raise QuestionError("the question is empty: type a question, e.g. \"AZEC là gì?\"")
    if len(q) > max_chars:
        raise QuestionError(f"the question has {len(q):,} characters; keep it under {max_chars:,}")
    controls = sum(1 for c in question if ord(c) < 32 and c not in "\n\r\t")
    if controls or "\ufffd" in question:
        raise QuestionError("the question contains binary or unreadable characters: type it as plain text")
    return q


class Assistant:
    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None,
                 notify: Callable[[str], None] | None = None, chat_model=None) -> None:
        """`chat_model` (a LangChain chat model) replaces the one the generator settings name (tests pass a fake)."""
        self.settings = settings or Settings()
        self.embedder = embedder or SentenceTransformerEmbedder(
            self.settings.model_dir, threads=self.settings.threads, precision=self.settings.embed_precision)
        self.store = IndexStore(self.settings.index_dir)
        self.notify = notify or (lambda msg: None)
        self._data: IndexData | None = None
        self._lock = threading.Lock()
        self._warm = False
        self._answerer: ExtractiveAnswerer | None = None
        self._chat_model = chat_model

    def build_index(self, rebuild: bool = False, show_bar: bool = False) -> IndexReport:
        corpus = load_corpus(self.settings.corpus_dir, self.settings.max_file_bytes)
        for s in corpus.skipped:
            self.notify(str(s))
        indexer = Indexer(self.store, self.embedder, self.settings.chunking, progress=self.notify)
        report = indexer.update(corpus, rebuild=rebuild, show_bar=show_bar)
        with self._lock:
            self._data = None
        return report

    def index_data(self) -> IndexData:
        """The active index, built on first use, reloaded when another process switched it."""
        with self._lock:
            current = self.store.current_version()
            if self._data is not None and current is not None and current.name == self._data.version:
                return self._data
        if current is None:
            self.notify(f"no index at {self.settings.index_dir} yet: building it from {self.settings.corpus_dir}")
            self.build_index()
        data = self.store.load(expected_manifest(self.embedder, self.settings.chunking))
        with self._lock:
            self._data = data
        return data

    def warm_up(self) -> None:
        """Load the index and the embedding model now, so that timings measure answering only."""
        if self._warm:
            return
        self.index_data()
        # The traced question encoder specialises itself on its first calls; pyvi loads its model on first use.
        for _ in range(2):
            self.embedder.embed_queries(["warm up the question encoder"])
        tokenize("khởi động")
        self._warm = True

    def retrieve(self, question: str, k: int | None = None) -> RetrievalResult:
        question = check_question(question, self.settings.max_question_chars)
        retriever = HybridRetriever(self.index_data(), self.embedder, self.settings.retrieval)
        return retriever.retrieve(question, k=k)

    def _extractive(self) -> ExtractiveAnswerer:
        data = self.index_data()
        if self._answerer is None or self._answerer.index is not data:
            self._answerer = ExtractiveAnswerer(data, min_scores={"vi": self.settings.answer_min_score_vi,
                                                                  "en": self.settings.answer_min_score_en})
        return self._answerer

    def chat_model(self):
        """The generator's chat model, made on first use (a local model loads on its first answer)."""
        if self._chat_model is None:
            from rag.models.chat import make_chat_model

            self._chat_model = make_chat_model(self.settings.generator)
        return self._chat_model

    def warm_up_generator(self) -> None:
        """Load a local model and let it read the fixed prompt prefix (system prompt and worked examples) now,
        so that the first question pays only for its own sentences. Servers need nothing."""
        if self.settings.generator.backend != "local":
            return
        from rag.answer.prompts import answer_messages

        self.chat_model().invoke(answer_messages("?", ["."], "vi"), max_tokens=1)

    def _generated(self) -> GeneratedAnswerer:
        from rag.models.chat import describe

        g = self.settings.generator
        return GeneratedAnswerer(self.chat_model(), g, {"vi": self.settings.generate_min_score_vi,
                                                         "en": self.settings.generate_min_score_en}, name=g.backend,
                                 label=describe(g), similarity=self.similarity)

    def similarity(self, claims: list[str], sentences: list[str]):
        """Cosines between claims (embedded as questions) and sentences (as passages), in any two languages."""
        q = self.embedder.embed_queries(claims, prompt=self.settings.retrieval.query_prompt_en)
        return q @ self.embedder.embed_passages(sentences).T

    def ask_stream(self, question: str, k: int | None = None) -> Iterator[str | Preview | Answer]:
        """Answer with the configured backend: a Preview of what the model reads, the text as it is written
        (str pieces), then the final Answer with checked citations. The extractive backend yields only the Answer."""
        self.warm_up()
        t0 = time.perf_counter()
        result = self.retrieve(question, k=k)
        timings = {"retrieve_ms": (time.perf_counter() - t0) * 1000}
        extractive = self._extractive()
        if self.settings.generator.backend == "extractive":
            answer = extractive.answer(result, timings)
            total = (time.perf_counter() - t0) * 1000
            answer.timings.update(first_token_ms=total, total_ms=total)
            yield answer
            return
        yield from self._generated().stream(result, extractive.supports(result), timings, started=t0)

    def ask(self, question: str, k: int | None = None) -> Answer:
        return collect(self.ask_stream(question, k=k))
