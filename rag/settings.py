"""One frozen settings object, read from the environment (RAG_*) and overridable by the CLI.

Every number the pipeline was tuned with is a field here, so an eval report's metadata (asdict of this
object) describes the run. Groups: chunking and lexical (part of the index manifest: changing them rebuilds),
retrieval, reader, citations, follow_up, generator; the refusal floors and limits are top-level fields.

The embedder is a setting too (RAG_EMBEDDER or --embedder; part of the manifest). Cosines differ in scale from one
embedder to the next, so the numbers tuned against them (fusion weights, query prompts, refusal floors, the
cross-language citation cosine) are kept per embedder in TUNED: a field left unset takes its embedder's value.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import RagError

ROOT = Path(__file__).resolve().parent.parent


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


def _env_threads() -> int:
    """$RAG_THREADS, or every core."""
    return int(os.environ.get("RAG_THREADS", "0")) or (os.cpu_count() or 1)


@dataclass(frozen=True)
class ChunkSettings:
    """How documents are cut. Part of the index manifest: changing it needs a rebuild."""

    max_chars: int = 1000
    overlap_sentences: int = 1

    def __post_init__(self) -> None:
        if self.max_chars < 100:
            raise RagError(f"chunk size {self.max_chars} is too small: use at least 100 characters")
        if not 0 <= self.overlap_sentences <= 3:
            raise RagError("chunk overlap must be 0 to 3 sentences")


@dataclass(frozen=True)
class LexicalSettings:
    """BM25 over Vietnamese word tokens (rag/indexing/lexical.py). Part of the index manifest."""

    k1: float = 1.2
    b: float = 0.75


FUSIONS = ("rrf", "scores")


@dataclass(frozen=True)
class RetrievalSettings:
    """How dense and lexical scores are fused (see rag/retrieval/hybrid.py)."""

    k: int = 5
    candidates: int = 50
    # How the dense and BM25 scores of the candidates become one (see HybridRetriever.fuse): "rrf" (reciprocal
    # ranks, rrf_k) or "scores" (min-max scaled scores, weighted).
    fusion: str = "rrf"
    rrf_k: int = 60
    # Weight of the lexical (BM25) ranking in the fusion, per question language. An English question
    # only brings its names and numbers to BM25 (see retriever.cross_language_terms).
    # (The embedder's tuned values are in TUNED below.)
    lexical_weight_vi: float = 0.3
    lexical_weight_en: float = 0.1
    # Chunk score = (1 - sentence_weight) * chunk similarity + sentence_weight * best sentence similarity.
    sentence_weight: float = 0.5
    # Added to the cosine of a chunk or sentence in the other language than the question's (see
    # rag/retrieval/hybrid.py): the embedder's measured same-language advantage.
    cross_language_offset: float = 0.0
    # The question prompt per question language; None keeps the embedder's own query prompt.
    query_prompt_vi: str | None = None
    query_prompt_en: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.k <= 50:
            raise RagError(f"k={self.k} (--k): ask for 1 to 50 passages")
        if self.fusion not in FUSIONS:
            raise RagError(f"fusion={self.fusion!r}: use one of {', '.join(FUSIONS)}")
        for name in ("lexical_weight_vi", "lexical_weight_en", "sentence_weight"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise RagError(f"{name} must be between 0 and 1")


@dataclass(frozen=True)
class ReaderSettings:
    """The trained reader (rag/answer/reader.py; the model: rag/reader/): it reads the retrieval's best
    `sentences` sentences, each with `neighbours` sentences either side, as separate windows of at most
    `max_length` tokens, ranked by margin + `fusion` x cosine (the sentences themselves rank by cosine + `overlap_*`
    x the share of the question's rarer words they hold), and an answer's margin over "no answer" below the
    threshold for the question's language is a refusal. Thresholds left unset are the ones in the weights'
    manifest, calibrated on held-out dev questions (eval/calibrate_reader.py). Measured there with the shipped
    weights (held-out dev, a gold answer in the read span or its sentence; viquad2-dev / xquad-vi-dev vi / en):
    the best sentence by cosine with one neighbour 0.68 / 0.82 / 0.78 (41 ms a question, onnx-int8), by cosine
    and overlap (0.3 vi, 0.05 en) 0.73 / 0.85 / 0.79 (the default; 0.74 / 0.86 / 0.77 with the 7-bit graph); by
    cosine, the best 3 read apart 0.70 / 0.77 / 0.58, with fusion 10 0.70 / 0.80 / 0.61; the best 5 0.70 / 0.73 /
    0.50, with fusion 10 0.76 / 0.74 / 0.58: more windows find more of viquad2-dev's answers and lose
    xquad-vi-dev's, so one is read."""

    # The one home of the reader's paths: the shipped weights (rag/reader/weights/, with their manifest beside them)
    # and the e5-small folder set-up builds.
    weights: Path = field(default_factory=lambda: _env_path("RAG_READER_WEIGHTS", ROOT / "rag" / "reader" / "weights"
                                                            / "reader.safetensors"))
    base_dir: Path = field(default_factory=lambda: _env_path("RAG_E5_DIR", ROOT / "models" / "e5-small"))
    sentences: int = 1
    neighbours: int = 1
    max_length: int = 192
    stride: int = 64  # tokens two windows of a longer text share
    fusion: float = 0.0  # readings rank by margin + fusion x the cosine of their window's best sentence
    # Sentences to read rank by cosine + overlap x the share of the question's rarer words they hold, per language
    overlap_vi: float = 0.3
    overlap_en: float = 0.05
    runtime: str = "onnx-int8"  # "onnx-int8" or "torch" (float32, as trained): rag/reader/runtime.py
    threshold_vi: float | None = None
    threshold_en: float | None = None
    # A question under the refusal floor's cosine is still answered when the reader's margin reaches this (None:
    # the floor decides alone). 5.06: 95% of held-out SQuAD 2.0 unanswerable questions (Vietnamese machine
    # translation), read over their own paragraphs, stay below it (eval/floor_margin.py). Against None, one run
    # over the same retrieval (eval/compare_readers.md): right xquad-vi-dev vi 0.765 -> 0.777, viquad2-dev 0.658
    # -> 0.671, false refusals 0.088 -> 0.076 and 0.096 -> 0.082; the seeds, English and UIT-ViNewsQA unchanged.
    floor_margin: float | None = 5.06

    def __post_init__(self) -> None:
        if not 1 <= self.sentences <= 20 or not 0 <= self.neighbours <= 3:
            raise RagError("the reader reads 1 to 20 sentences with 0 to 3 neighbours each")
        if not 96 <= self.max_length <= 512:
            raise RagError("the reader's windows are 96 to 512 tokens")
        if self.runtime not in ("torch", "onnx-int8"):
            raise RagError(f"reader runtime {self.runtime!r}: use torch or onnx-int8")

    def threshold(self, lang: str) -> float:
        """The refusal threshold for questions in `lang`: set here, or the manifest's."""
        own = self.threshold_vi if lang == "vi" else self.threshold_en
        return own if own is not None else _manifest_thresholds(self.weights.with_name("manifest.json"))[lang]


@functools.lru_cache(maxsize=8)
def _manifest_thresholds(manifest: Path) -> dict[str, float]:
    """The thresholds of a reader's manifest, read once per process (it ships with the weights)."""
    try:
        return {k: float(v) for k, v in json.loads(manifest.read_text(encoding="utf-8"))["thresholds"].items()}
    except (OSError, ValueError, KeyError) as exc:
        raise RagError(f"the reader's manifest {manifest} is missing or has no thresholds: run "
                       f"`git checkout -- {manifest.parent}`") from exc


@dataclass(frozen=True)
class CitationSettings:
    """How a generated answer's sentences are matched to the passages (rag/answer/citations.py)."""

    # Same language: the share of a claim's words (numbers counting double) a passage must hold.
    min_support: float = 0.5
    # A claim with a number the passage lacks gets at most this share (236,6 is not 263,6).
    unsupported_number_cap: float = 0.4
    # Across languages: a passage supports a claim above this cosine and within the margin of the best one.
    min_similarity: float = 0.75
    similarity_margin: float = 0.05


@dataclass(frozen=True)
class FollowUpSettings:
    """Follow-up questions made standalone (rag/answer/followup.py)."""

    max_words: int = 15  # a longer question is never treated as a follow-up
    max_rewrite_chars: int = 300  # a model's rewrite longer than this is discarded
    max_turns: int = 2  # earlier turns shown to the model
    max_answer_chars: int = 400  # of each earlier answer


ANSWER_LANGS = ("auto", "vi", "en")
ANSWER_MODES = ("reader", "generate", "hybrid")
STORES = ("faiss", "postgres")


@dataclass(frozen=True)
class GeneratorSettings:
    """Which model writes the answers, and how much it reads and writes (see rag/models/chat.py, rag/answer/generated.py)."""

    backend: str = field(default_factory=lambda: os.environ.get("RAG_BACKEND", "local"))
    # local: "1.5b" (default), "0.5b" (faster) or the path of a .gguf file.
    model: str = field(default_factory=lambda: os.environ.get("RAG_LLM", "1.5b"))
    models_dir: Path = field(default_factory=lambda: _env_path("RAG_LLM_DIR", ROOT / "models"))
    # auto: the question's language; or always "vi" / "en".
    answer_lang: str = "auto"
    # reader: the program picks the sentences and quotes them; the model only writes an answer across languages
    # (rag/answer/reading.py). generate: the model writes every answer from the best sentences, its citations
    # checked (rag/answer/generated.py). hybrid: the reader decides and answers in the articles' language; across
    # languages the model writes the answer from the best sentences, checked, and the reader's answer stands
    # when the model's fails its check.
    mode: str = field(default_factory=lambda: os.environ.get("RAG_ANSWER_MODE", "reader"))
    n_ctx: int = 2048
    threads: int = field(default_factory=_env_threads)
    # local: how many processes of this machine may run a model at once (rag/models/slots.py); 0: no limit.
    model_processes: int = field(default_factory=lambda: int(os.environ.get("RAG_LLM_PROCESSES") or 1))
    # local: answers the model writes together (rag/models/batched.py), each with a KV cache of n_ctx tokens (57 MB
    # for the 1.5B at 2,048); the served app lets this many calls reach the model at once (ui/gate.py), for any
    # backend.
    parallel: int = field(default_factory=lambda: int(os.environ.get("RAG_LLM_PARALLEL") or 4))
    max_tokens: int = 160
    temperature: float = 0.0
    # reader mode: the words of the sentence either side of the span that the model reads to render it (0: the
    # whole sentence). 12 against 0, one run over the same retrieval: right seeds en 0.409 -> 0.424, xquad-vi-dev
    # en 0.339 -> 0.347; the model's time for a rendering p50 1,408 -> 1,089 ms (114 -> 83 tokens read and written).
    gloss_context_words: int = 12
    # reader mode: the model renders a span without the question (shown it, a small model sometimes writes the
    # question's words), and when that rendering fails its check, once more with the question (RAG_GLOSS_RETRY=0:
    # not again). README, Answers, has the figures of each way.
    gloss_retry: bool = field(default_factory=lambda: os.environ.get("RAG_GLOSS_RETRY", "1") != "0")
    # What the model reads: the best sentences of the retrieved passages, at most this many and this many
    # characters in all (prompt processing dominates on a CPU).
    max_sentences: int = 6
    max_passage_chars: int = 1500
    # local: refuse when the model's probability of starting with NOT_FOUND is at least this (see rag/models/chat.py);
    # None: greedy decoding decides. Measured on the seeds it did not separate answerable from unanswerable
    # questions (README.md, Figures), so it is off by default.
    refusal_threshold: float | None = None
    openai_base_url: str = field(default_factory=lambda: os.environ.get("RAG_OPENAI_BASE_URL",
                                                                        os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")))
    openai_model: str = field(default_factory=lambda: os.environ.get("RAG_OPENAI_MODEL", "local-model"))
    openai_api_key: str | None = field(default_factory=lambda: os.environ.get("OPENAI_API_KEY"))
    ollama_base_url: str = field(default_factory=lambda: os.environ.get("RAG_OLLAMA_BASE_URL", "http://127.0.0.1:11434"))
    ollama_model: str = field(default_factory=lambda: os.environ.get("RAG_OLLAMA_MODEL", "qwen2.5:1.5b-instruct"))
    timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if self.mode not in ANSWER_MODES:
            raise RagError(f"answer mode {self.mode!r} ($RAG_ANSWER_MODE): use one of {', '.join(ANSWER_MODES)}")
        # The backend's name is checked against the table (rag/models/backends.py) when it is used.
        if self.answer_lang not in ANSWER_LANGS:
            raise RagError(f"answer language {self.answer_lang!r}: use auto, vi or en")
        if not 1 <= self.parallel <= 16:
            raise RagError(f"RAG_LLM_PARALLEL={self.parallel}: use 1 to 16 answers written at once")
        if not 1 <= self.max_sentences <= 20:
            raise RagError("max_sentences must be 1 to 20")

    def replace(self, **changes) -> "GeneratorSettings":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _env_names(name: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in os.environ.get(name, "").split(",") if n.strip())


@dataclass(frozen=True)
class ServerSettings:
    """`rag serve` (ui/): who may log in, who may change the corpus, how many questions may wait for the model.

    Logins: RAG_UI_USER with RAG_UI_PASSWORD (one), and RAG_UI_USERS ("name:password,name:password", more).
    RAG_UI_EDITORS names the logins that may upload, delete and rebuild (editors); the other logins read and ask
    (readers). Without any login, the corpus can be changed only when the server listens on loopback."""

    user: str | None = field(default_factory=lambda: os.environ.get("RAG_UI_USER") or None)
    password: str | None = field(default_factory=lambda: os.environ.get("RAG_UI_PASSWORD") or None, repr=False)
    users: str = field(default_factory=lambda: os.environ.get("RAG_UI_USERS", ""), repr=False)
    editors: tuple[str, ...] = field(default_factory=lambda: _env_names("RAG_UI_EDITORS"))
    # Questions that may wait for the model (one is answered at a time); one more is told the server is busy.
    max_waiting: int = field(default_factory=lambda: int(os.environ.get("RAG_UI_MAX_WAITING") or 16))
    # The local model's worker process runs at this nice value (0: as the server), so that answers without the
    # model get the CPU first (ui/gate.py).
    model_nice: int = field(default_factory=lambda: int(os.environ.get("RAG_UI_MODEL_NICE") or 10))

    def __post_init__(self) -> None:
        if self.max_waiting < 0:
            raise RagError(f"RAG_UI_MAX_WAITING={self.max_waiting}: use 0 or more")
        if not 0 <= self.model_nice <= 19:
            raise RagError(f"RAG_UI_MODEL_NICE={self.model_nice}: use 0 (as the server) to 19 (lowest priority)")

    def logins(self) -> tuple[tuple[str, str], ...]:
        """(name, password) pairs; raises RagError on a half-set or malformed login, or an editor who is not one."""
        if bool(self.user) != bool(self.password):
            raise RagError("set both RAG_UI_USER and RAG_UI_PASSWORD for a login, or neither for none")
        pairs = [(self.user, self.password)] if self.user else []
        for item in (i.strip() for i in self.users.split(",")):
            if not item:
                continue
            name, colon, password = item.partition(":")
            if not colon or not name.strip() or not password:
                raise RagError("RAG_UI_USERS takes name:password pairs separated by commas (no comma in a password)")
            pairs.append((name.strip(), password))
        names = [n for n, _ in pairs]
        if len(set(names)) != len(names):
            raise RagError("a login name is given twice in RAG_UI_USER / RAG_UI_USERS: keep one")
        unknown = [e for e in self.editors if e not in names]
        if unknown:
            raise RagError(f"RAG_UI_EDITORS names {unknown[0]!r}, which is not a login: add it to RAG_UI_USERS "
                           "(name:password) or remove it")
        return tuple(pairs)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class FetchSettings:
    """Pages fetched by link (`rag add URL`, the corpus tab's link box; rag/ingest/fetch.py). Only http and https,
    to public addresses: a link (or a redirect) to this machine, its private network, link-local or cloud metadata
    addresses is refused, since whoever can reach the server could otherwise make it read them, unless
    RAG_ALLOW_PRIVATE_URLS=1 (a machine only you use, or the tests' local server). The size limit is the corpus's
    (Settings.max_file_bytes)."""

    allow_private: bool = field(default_factory=lambda: _env_flag("RAG_ALLOW_PRIVATE_URLS"))
    timeout_s: float = 20.0  # for the whole fetch, redirects included
    max_redirects: int = 5
    user_agent: str = "rag-vn-news/0.1 (+offline news QA; fetches one page when a user adds its link)"

    def __post_init__(self) -> None:
        if not 0 < self.timeout_s <= 300:
            raise RagError(f"fetch timeout {self.timeout_s} s: use more than 0 and at most 300 seconds")
        if not 0 <= self.max_redirects <= 20:
            raise RagError("max_redirects must be 0 to 20")


# The embedders (rag/models/embedders.py makes them); the first is the default.
EMBEDDERS = ("embeddinggemma", "e5-small")

# What was tuned against each embedder's cosines. answer_min_score_*: below this cosine between the question and
# its best sentence the extractive answer is a refusal, set per question language at the 5th percentile of the
# answerable xquad-vi-dev questions' best-sentence scores. generate_min_score_*: below it a generating backend
# refuses without calling the model. citation_min_similarity: across languages a passage supports a claim above it.
TUNED: dict[str, dict] = {
    "e5-small": {
        # English questions over Vietnamese text measured better without e5's "query: " prompt (hit@1 0.866 vs 0.858).
        "retrieval": {"lexical_weight_vi": 0.3, "lexical_weight_en": 0.1, "sentence_weight": 0.5,
                      "query_prompt_vi": None, "query_prompt_en": ""},
        "answer_min_score_vi": 0.85, "answer_min_score_en": 0.79,
        "generate_min_score_vi": 0.80, "generate_min_score_en": 0.75,
        "citations": {"min_similarity": 0.75},
    },
    "embeddinggemma": {
        # Score fusion, not RRF: a BM25 score far above the rest counts for more than one rank. Measured with the
        # int8 graph (answerable hit@1, RRF with rrf_k 5 -> scores): viquad2-dev 0.859 -> 0.888, xquad-vi-dev vi
        # 0.967 -> 0.978, en 0.959 -> 0.959, seeds first passage vi 0.908 -> 0.908, en 0.833 -> 0.848. BM25 weight
        # 0.45 / 0.55 / 0.6 for Vietnamese: viquad2-dev 0.883 / 0.879 / 0.879; English 0.05 / 0.2: xquad en 0.957 /
        # 0.956. EmbeddingGemma's own query prompt in both languages (without it viquad2-dev drops to 0.830; the
        # shorter "search | query: " and "query: ", 3 and 5 tokens fewer: 0.837 and 0.823).
        # The cross-language offset is the mean gap between the aligned Vietnamese and English questions' cosines
        # to their gold xquad-vi-dev passages (0.119 by chunk, 0.128 by best sentence); on the seeds it moves the
        # English questions' first-passage hit from 0.773 to 0.818 (xquad-vi-dev, all Vietnamese, unchanged).
        "retrieval": {"lexical_weight_vi": 0.5, "lexical_weight_en": 0.1, "sentence_weight": 0.75, "fusion": "scores",
                      "cross_language_offset": 0.12, "query_prompt_vi": None, "query_prompt_en": None},
        # With the offset both languages' scores share one scale: the 5th percentiles of the answerable
        # xquad-vi-dev questions' best-sentence scores are vi 0.457, en 0.446 (1st: 0.389, 0.366; the int8 graph,
        # the same with RRF or score fusion); the generating floors sit just below the 1st.
        "answer_min_score_vi": 0.46, "answer_min_score_en": 0.45,
        "generate_min_score_vi": 0.36, "generate_min_score_en": 0.36,
        # The best cosine of the 60 English claims of the 1.5B run on the seeds to their passages' sentences:
        # 5th percentile 0.448 (e5: 0.825), median 0.618 (e5: 0.870); e5's 0.75 and 0.05 scaled to that spread.
        "citations": {"min_similarity": 0.35, "similarity_margin": 0.1},
    },
}
_TUNED_FIELDS = ("retrieval", "citations", "answer_min_score_vi", "answer_min_score_en", "generate_min_score_vi",
                 "generate_min_score_en")


def redacted(url: str) -> str:
    """A database URL without its password, for messages and reports."""
    return re.sub(r"(//[^:/@]+):[^@]+@", r"\1:***@", url)


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = field(default_factory=lambda: _env_path("RAG_CORPUS", ROOT / "seeds"))
    index_dir: Path = field(default_factory=lambda: _env_path("RAG_INDEX", ROOT / "index"))
    # Where the index lives: "faiss" (a folder, index_dir) or "postgres" (pg_url, one index per pg_store name).
    store: str = field(default_factory=lambda: os.environ.get("RAG_STORE") or "faiss")
    pg_url: str | None = field(default_factory=lambda: os.environ.get("RAG_PG_URL") or None)
    pg_store: str = field(default_factory=lambda: os.environ.get("RAG_PG_STORE") or "default")
    embedder: str = field(default_factory=lambda: os.environ.get("RAG_EMBEDDER") or EMBEDDERS[0])
    # The embedder's folder; unset: $RAG_MODEL_DIR, else models/<embedder>.
    model_dir: Path | None = None
    chunking: ChunkSettings = field(default_factory=ChunkSettings)
    lexical: LexicalSettings = field(default_factory=LexicalSettings)
    # Unset (None): the embedder's tuned values (TUNED).
    retrieval: RetrievalSettings | None = None
    reader: ReaderSettings = field(default_factory=ReaderSettings)
    citations: CitationSettings | None = None
    follow_up: FollowUpSettings = field(default_factory=FollowUpSettings)
    generator: GeneratorSettings = field(default_factory=GeneratorSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    answer_min_score_vi: float | None = None
    answer_min_score_en: float | None = None
    generate_min_score_vi: float | None = None
    generate_min_score_en: float | None = None
    # An answer whose best sentence is less than this above its backend's floor is flagged as weakly supported.
    low_relevance_margin: float = 0.03
    max_file_bytes: int = 5_000_000
    max_question_chars: int = 2000
    # Embedding model precision: auto (bf16 where the CPU has native bf16, else fp32), fp32 or bf16.
    embed_precision: str = field(default_factory=lambda: os.environ.get("RAG_EMBED_PRECISION", "auto"))
    threads: int = field(default_factory=_env_threads)

    def __post_init__(self) -> None:
        if self.store not in STORES:
            raise RagError(f"store {self.store!r} ($RAG_STORE): use one of {', '.join(STORES)}")
        if self.embedder not in TUNED:
            raise RagError(f"embedder {self.embedder!r} (--embedder, $RAG_EMBEDDER): use one of {', '.join(EMBEDDERS)}")
        tuned = TUNED[self.embedder]
        if self.model_dir is None:
            object.__setattr__(self, "model_dir", _env_path("RAG_MODEL_DIR", ROOT / "models" / self.embedder))
        if self.retrieval is None:
            object.__setattr__(self, "retrieval", RetrievalSettings(**tuned["retrieval"]))
        if self.citations is None:
            object.__setattr__(self, "citations", CitationSettings(**tuned["citations"]))
        for name in _TUNED_FIELDS[2:]:
            if getattr(self, name) is None:
                object.__setattr__(self, name, tuned[name])

    @property
    def answer_threads(self) -> int:
        """Answers the served app makes at once: the model's line (the calls it serves together and max_waiting)
        plus 7 more, so questions that need no model always find a thread free."""
        return self.generator.parallel + self.server.max_waiting + 7

    def answer_floors(self, generating: bool) -> dict[str, float]:
        """The refusal floors per question language: a model's, or the extractive answer's."""
        if generating:
            return {"vi": self.generate_min_score_vi, "en": self.generate_min_score_en}
        return {"vi": self.answer_min_score_vi, "en": self.answer_min_score_en}

    def to_json(self) -> dict:
        """Every setting, for an eval report's metadata (paths as text; the API key and the UI's passwords left
        out, the database password hidden)."""
        def plain(value):
            if isinstance(value, dict):
                return {k: (redacted(v) if k == "pg_url" and v else plain(v)) for k, v in value.items()
                        if "api_key" not in k and k not in ("password", "users")}
            return str(value) if isinstance(value, Path) else value

        return plain(dataclasses.asdict(self))

    def replace(self, **changes) -> "Settings":
        """A copy with some fields changed (None values are ignored, so CLI defaults pass through). A new embedder
        brings its own tuned values and folder, except those given in the same call."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if changes.get("embedder", self.embedder) != self.embedder:
            for name in (*_TUNED_FIELDS, "model_dir"):
                changes.setdefault(name, None)
        return dataclasses.replace(self, **changes)
