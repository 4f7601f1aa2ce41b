"""The assistant: one object that the CLI, the UI and the eval use, with its collaborators passed in.

It keeps the embedder (loaded on first use), the loaded index and its retriever, and reloads the index when
a build elsewhere switched it, so a running UI sees a rebuilt index without a restart. One question's way:
check_question -> HybridRetriever.retrieve (rag/retrieval/hybrid.py: FAISS, BM25, the sentence scores) ->
the answerer: the trained reader's read -> compose -> cite (rag/answer/reading.py; a chat model from
rag/models/backends.py renders spans across languages), or, in the generate mode, a model's answer
(rag/answer/generated.py) -> an AnswerStream of events ending in the Answer (rag/types.py).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Callable, Iterator, Mapping

from rag.answer.answerability import RefusalRule
from rag.answer.generated import GeneratedAnswerer
from rag.answer.reader import Reader, SpanModel
from rag.answer.reading import ReadingAnswerer
from rag.answer.refusal import RefusalDecision
from rag.errors import QuestionError, StoreUnreachableError
from rag.indexing.builder import Indexer, IndexReport
from rag.indexing.lexical import tokenize
from rag.indexing.store import DocRecord, IndexData, expected_manifest
from rag.indexing.stores import open_store
from rag.ingest.corpus import load_corpus
from rag.models.backends import Backend, backend, describe
from rag.models.embedder import Embedder
from rag.models.embedders import make_embedder
from rag.retrieval.hybrid import HybridRetriever
from rag.settings import Settings
from rag.types import Answer, AnswerStream, Done, Event, RetrievalResult


def with_pages(answer: Answer, docs: Mapping[str, DocRecord]) -> Answer:
    """The answer with each citation of a PDF given the page its quote starts on."""
    cited = [(c, docs.get(c.doc_id)) for c in answer.citations]
    if not any(doc is not None and doc.pages for _, doc in cited):
        return answer
    citations = tuple(dataclasses.replace(c, page=doc.page_at(c.start)) if doc is not None and
                      doc.text[c.start:c.end] == c.quote else c for c, doc in cited)
    return dataclasses.replace(answer, citations=citations)


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
                 notify: Callable[[str], None] | None = None, chat_model=None,
                 span_model: SpanModel | None = None) -> None:
        """`chat_model` (a LangChain chat model) replaces the one the generator settings name, `span_model` the
        trained reader (rag/reader/runtime.py; tests pass fakes)."""
        self.settings = settings or Settings()
        self.embedder = embedder or make_embedder(self.settings)
        self.store = open_store(self.settings)
        self.notify = notify or (lambda msg: None)
        self.backend: Backend = backend(self.settings.generator.backend)
        self.rule = RefusalRule(self.settings.answer_floors(self.backend.generates),
                                check_terms=self.backend.generates,
                                weak_margin=self.settings.low_relevance_margin)
        self._data: IndexData | None = None
        self._retriever: HybridRetriever | None = None
        self._lock = threading.Lock()
        self._warm = False
        self._chat_model = chat_model
        self._span_model = span_model

    def build_index(self, rebuild: bool = False, show_bar: bool = False) -> IndexReport:
        corpus = load_corpus(self.settings.corpus_dir, self.settings.max_file_bytes)
        for s in corpus.skipped:
            self.notify(str(s))
        indexer = Indexer(self.store, self.embedder, self.settings.chunking, self.settings.lexical,
                          progress=self.notify)
        report = indexer.update(corpus, rebuild=rebuild, show_bar=show_bar)
        with self._lock:
            self._data = None
        return report

    def expected_manifest(self) -> dict:
        return expected_manifest(self.embedder, self.settings.chunking, self.settings.lexical)

    def index_data(self) -> IndexData:
        """The active index, built on first use, reloaded when another process switched it."""
        with self._lock:
            try:
                current = self.store.current_version()
            except StoreUnreachableError as exc:
                if self._data is None:
                    raise
                # The database is down or unreachable: the version already in memory is still served.
                self.notify(f"{exc}; answering from the version loaded before, {self._data.version}")
                return self._data
            if self._data is not None and current is not None and current.name == self._data.version:
                return self._data
        if current is None:
            self.notify(f"no index at {self.settings.index_dir} yet: building it from {self.settings.corpus_dir}")
            self.build_index()
        data = self.store.load(self.expected_manifest())
        with self._lock:
            self._data = data
        return data

    def retriever(self) -> HybridRetriever:
        """The retriever over the active index, made once per index version."""
        data = self.index_data()
        retriever = self._retriever
        if retriever is None or retriever.index is not data:
            retriever = self._retriever = HybridRetriever(data, self.embedder, self.settings.retrieval)
        return retriever

    def warm_up(self) -> None:
        """Load the index and the embedding model now, so that timings measure answering only."""
        if self._warm:
            return
        self.index_data()
        # The traced question encoder specialises itself on its first calls; pyvi loads its model on first use.
        for _ in range(2):
            self.embedder.embed_queries(["warm up the question encoder"])
        tokenize("khởi động")
        if self.settings.generator.mode != "generate" or not self.backend.generates:
            self.span_model().read("khởi động?", ["khởi động"])
        self._warm = True

    def retrieve(self, question: str, k: int | None = None) -> RetrievalResult:
        question = check_question(question, self.settings.max_question_chars)
        return self.retriever().retrieve(question, k=k)

    def chat_model(self):
        """The generator's chat model, made on first use (a local model loads on its first answer)."""
        if self._chat_model is None:
            self._chat_model = self.backend.chat_model(self.settings.generator)
        return self._chat_model

    def warm_up_generator(self) -> None:
        """Load a local model and let it read the fixed prompt prefix (system prompt and worked examples) now,
        so that the first question pays only for its own sentences. Servers need nothing."""
        if not self.backend.local:
            return
        from rag.answer.prompts import answer_messages, gloss_messages

        if self.settings.generator.mode == "reader":  # the model only renders spans across languages
            self.chat_model().invoke(gloss_messages(".", "?", ".", "en"), max_tokens=1)
        else:
            self.chat_model().invoke(answer_messages("?", ["."], "vi"), max_tokens=1)

    def _generated(self) -> GeneratedAnswerer:
        g = self.settings.generator
        return GeneratedAnswerer(self.chat_model(), g, self.rule, self.settings.citations, name=g.backend,
                                 label=describe(g), similarity=self.similarity)

    def similarity(self, claims: list[str], sentences: list[str]):
        """Cosines between claims (embedded as questions) and sentences (as passages), in any two languages."""
        q = self.embedder.embed_queries(claims, prompt=self.settings.retrieval.query_prompt_en)
        return q @ self.embedder.embed_passages(sentences).T

    def span_model(self) -> SpanModel:
        """The trained reader, made on first use (its weights load on its first question)."""
        if self._span_model is None:
            from rag.reader.runtime import reader_for

            self._span_model = reader_for(self.settings.reader, self.settings.threads)
        return self._span_model

    def decision(self) -> RefusalDecision:
        """The one refusal decision: the floors (no model), then the trained reader (rag/answer/refusal.py)."""
        rule = RefusalRule(self.settings.answer_floors(False), check_terms=True,
                           weak_margin=self.settings.low_relevance_margin)
        return RefusalDecision(rule, Reader(self.span_model(), self.settings.reader))

    def answer_stream(self, result: RetrievalResult, timings: dict | None = None,
                      started: float | None = None) -> AnswerStream:
        """The answer to a retrieval result with the configured backend. `started` (perf_counter) is when the
        question arrived: first_token_ms and total_ms count from it."""
        return AnswerStream(self._events(result, dict(timings or {}), started or time.perf_counter()))

    def _events(self, result: RetrievalResult, timings: dict, started: float) -> Iterator[Event]:
        data = self._data  # the index the result was retrieved from (None: a result made elsewhere, no pages)
        docs = data.docs if data is not None else {}
        for event in self._answer_events(result, timings, started):
            yield Done(with_pages(event.answer, docs)) if event.kind == "done" else event

    def _answer_events(self, result: RetrievalResult, timings: dict, started: float) -> Iterator[Event]:
        g = self.settings.generator
        if self.backend.generates and g.mode == "generate":
            yield from self._generated().stream(result, timings, started=started)
            return
        model = self.chat_model() if self.backend.generates else None
        name = g.backend if self.backend.generates else "extractive"
        answerer = ReadingAnswerer(self.decision(), model, name=name, label=describe(g), answer_lang=g.answer_lang,
                                   similarity=self.similarity if model is not None else None,
                                   min_similarity=self.settings.citations.min_similarity,
                                   context_words=g.gloss_context_words, retry=g.gloss_retry,
                                   writer=self._generated() if model is not None and g.mode == "hybrid" else None)
        yield from answerer.stream(result, timings, started=started)

    def ask_stream(self, question: str, k: int | None = None) -> AnswerStream:
        """Retrieve and answer: with a model, a Preview of what it reads, the text as it is written (TextDelta),
        then Done with the checked Answer; the extractive backend sends only Done."""
        self.warm_up()
        t0 = time.perf_counter()
        result = self.retrieve(question, k=k)
        return self.answer_stream(result, {"retrieve_ms": (time.perf_counter() - t0) * 1000}, started=t0)

    def ask(self, question: str, k: int | None = None) -> Answer:
        return self.ask_stream(question, k=k).answer()
