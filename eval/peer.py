"""The peer recipe the benchmark compares against: LangChain's canonical hybrid RAG retrieval.

RecursiveCharacterTextSplitter(1000, 200) chunks, HuggingFaceEmbeddings (sentence-transformers on the CPU, in the
folder's float32, normalised vectors) over one of this project's embedder folders in a FAISS vector store,
BM25Retriever with its default preprocessing (whitespace split), and EnsembleRetriever (weighted RRF, 0.5/0.5) over
both. The query and passage prompts are the model's own: PROMPTS holds them per embedder (multilingual-e5-small
"query: " / "passage: ", EmbeddingGemma "task: search result | query: " / "title: none | text: ");
`PeerRecipe.for_embedder(name)` picks the folder models/<name> and its prompts, or pass `query_prompt` /
`passage_prompt` to the constructor.

Needs the `dev` extra (langchain, langchain-classic, langchain-community, langchain-huggingface, rank-bm25).
"""

from __future__ import annotations

from pathlib import Path

KINDS = ("dense", "bm25", "ensemble")
ROOT = Path(__file__).resolve().parent.parent
# (query prompt, passage prompt) per embedder, as each model's card gives them; the folders are ROOT/models/<name>.
PROMPTS = {
    "e5-small": ("query: ", "passage: "),
    "embeddinggemma": ("task: search result | query: ", "title: none | text: "),
}


class PeerRecipe:
    """Load the model in the constructor, `build(corpus_dir)` the indexes, then `retrieve(question, k, kind)`."""

    def __init__(self, model_dir: Path | str, query_prompt: str = PROMPTS["e5-small"][0],
                 passage_prompt: str = PROMPTS["e5-small"][1], chunk_size: int = 1000, chunk_overlap: int = 200) -> None:
        """`model_dir`: a sentence-transformers folder (loaded as stored: float32 in both of ours); the prompts default to e5's."""
        from langchain_huggingface import HuggingFaceEmbeddings

        self.model_dir = Path(model_dir)
        self.query_prompt, self.passage_prompt = query_prompt, passage_prompt
        self.embeddings = HuggingFaceEmbeddings(
            model_name=str(model_dir),
            model_kwargs={"device": "cpu", "local_files_only": True},
            encode_kwargs={"prompt": passage_prompt, "normalize_embeddings": True},
            query_encode_kwargs={"prompt": query_prompt, "normalize_embeddings": True},
        )
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.chunks = []
        self._dense = self._bm25 = self._ensemble = None

    @classmethod
    def for_embedder(cls, name: str, models_dir: Path | str | None = None, **kwargs) -> "PeerRecipe":
        """The recipe over models/<name> (an embedder of PROMPTS) with that model's prompts."""
        if name not in PROMPTS:
            raise ValueError(f"embedder {name!r}: use one of {', '.join(PROMPTS)}")
        query, passage = PROMPTS[name]
        return cls(Path(models_dir or ROOT / "models") / name, query_prompt=query, passage_prompt=passage, **kwargs)

    def build(self, corpus_dir: Path | str) -> int:
        """Chunk and index every .txt file of corpus_dir (doc id = file name without .txt); returns the chunk count."""
        from langchain_classic.retrievers import EnsembleRetriever
        from langchain_community.retrievers import BM25Retriever
        from langchain_community.vectorstores import FAISS
        from langchain_core.documents import Document
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        docs = [Document(page_content=p.read_text(encoding="utf-8"), metadata={"doc_id": p.stem, "source": str(p)})
                for p in sorted(Path(corpus_dir).glob("*.txt"))]
        splitter = RecursiveCharacterTextSplitter(chunk_size=self.chunk_size, chunk_overlap=self.chunk_overlap)
        self.chunks = splitter.split_documents(docs)
        store = FAISS.from_documents(self.chunks, self.embeddings)
        self._dense = store.as_retriever(search_kwargs={"k": 4})
        self._bm25 = BM25Retriever.from_documents(self.chunks)
        self._ensemble = EnsembleRetriever(retrievers=[self._bm25, self._dense], weights=[0.5, 0.5])
        return len(self.chunks)

    def retrieve(self, question: str, k: int = 10, kind: str = "ensemble") -> list[tuple[str, str]]:
        """The first k chunks as (doc_id, text), best first."""
        if self._ensemble is None:
            raise RuntimeError("call build(corpus_dir) first")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        self._dense.search_kwargs["k"] = k
        self._bm25.k = k
        retriever = {"dense": self._dense, "bm25": self._bm25, "ensemble": self._ensemble}[kind]
        docs = retriever.invoke(question)[:k]  # the ensemble fuses up to 2k; keep the first k
        return [(d.metadata["doc_id"], d.page_content) for d in docs]
