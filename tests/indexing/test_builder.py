import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from rag.errors import IndexMismatchError, IndexMissingError
from rag.indexing.builder import Indexer
from rag.indexing.store import expected_manifest
from rag.indexing.store import IndexStore
from rag.ingest.corpus import load_corpus
from rag.settings import ChunkSettings, LexicalSettings

from ..conftest import ROOT
from ..fakes import FakeEmbedder

ARTICLES = {
    f"doc{i}": f"Bài báo số {i} về chủ đề {topic}. " + " ".join(f"Câu thứ {j} của bài {i} nói về {topic}." for j in range(12))
    for i, topic in enumerate(["kinh tế", "thể thao", "giáo dục", "y tế", "môi trường"])
}


def make_corpus(folder, articles=ARTICLES):
    folder.mkdir(exist_ok=True)
    for name, text in articles.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    return folder


def build(folder, index, embedder, chunking=ChunkSettings(max_chars=200), rebuild=False):
    return Indexer(IndexStore(index), embedder, chunking).update(load_corpus(folder), rebuild=rebuild)


def test_first_build_embeds_everything_and_describes_itself(tmp_path):
    corpus = make_corpus(tmp_path / "c")
    emb = FakeEmbedder()
    report = build(corpus, tmp_path / "i", emb)
    assert (report.documents, report.added, report.unchanged) == (5, 5, 0)
    assert report.chunks_embedded == report.chunks > 5
    manifest = IndexStore(tmp_path / "i").read_manifest()
    assert manifest["embedding"]["name"] == "fake-bow-64" and manifest["embedding"]["dimension"] == 64
    assert manifest["embedding"]["checksum"] == "fake-checksum-1"
    assert manifest["chunking"]["max_chars"] == 200
    assert set(manifest["documents"]) == set(ARTICLES)
    assert all(len(d["content_hash"]) == 64 for d in manifest["documents"].values())
    assert emb.embedded and not any(e.startswith("passage: ") for e in emb.embedded)  # the embedder adds prompts


def test_changing_one_document_embeds_only_its_chunks(tmp_path):
    corpus = make_corpus(tmp_path / "c")
    index = tmp_path / "i"
    build(corpus, index, FakeEmbedder())
    before = IndexStore(index).load()
    doc3_chunks = {c.chunk_id for c in before.chunks if c.doc_id == "doc3"}

    new_text = ARTICLES["doc3"] + " Một câu mới được thêm vào cuối bài."
    (corpus / "doc3.txt").write_text(new_text, encoding="utf-8")
    emb = FakeEmbedder()
    report = build(corpus, index, emb)
    assert (report.added, report.changed, report.removed, report.unchanged) == (0, 1, 0, 4)
    assert 1 <= report.chunks_embedded <= len(doc3_chunks)
    assert emb.embedded and all(e in new_text for e in emb.embedded)
    after = IndexStore(index).load()
    # Unchanged documents keep their chunks and vectors exactly.
    old = {c.chunk_id: before.chunk_vectors[i] for i, c in enumerate(before.chunks)}
    for i, c in enumerate(after.chunks):
        if c.doc_id != "doc3":
            assert np.array_equal(old[c.chunk_id], after.chunk_vectors[i])


def test_nothing_changed_embeds_nothing_and_keeps_the_version(tmp_path):
    corpus = make_corpus(tmp_path / "c")
    index = tmp_path / "i"
    first = build(corpus, index, FakeEmbedder())
    emb = FakeEmbedder()
    again = build(corpus, index, emb)
    assert emb.embedded == [] and again.chunks_embedded == 0 and again.unchanged == 5
    assert again.version == first.version


def test_added_and_removed_documents(tmp_path):
    corpus = make_corpus(tmp_path / "c")
    index = tmp_path / "i"
    build(corpus, index, FakeEmbedder())
    (corpus / "doc0.txt").unlink()
    (corpus / "new.txt").write_text("Một bài mới hoàn toàn về du lịch biển.", encoding="utf-8")
    report = build(corpus, index, FakeEmbedder())
    assert (report.added, report.removed, report.unchanged) == (1, 1, 4)
    data = IndexStore(index).load()
    assert {c.doc_id for c in data.chunks} == {"doc1", "doc2", "doc3", "doc4", "new"}
    assert len(data.chunk_vectors) == len(data.chunks)
    assert data.lexical.size == len(data.chunks)


def test_manifest_mismatch_is_refused_with_how_to_rebuild(tmp_path):
    corpus = make_corpus(tmp_path / "c")
    index = tmp_path / "i"
    build(corpus, index, FakeEmbedder())
    other_model = FakeEmbedder(checksum="another-model")
    with pytest.raises(IndexMismatchError, match="rag index --rebuild"):
        build(corpus, index, other_model)
    with pytest.raises(IndexMismatchError, match="chunking"):
        build(corpus, index, FakeEmbedder(), chunking=ChunkSettings(max_chars=300))
    store = IndexStore(index)
    with pytest.raises(IndexMismatchError, match="embedding"):
        store.load(expected_manifest(other_model, ChunkSettings(max_chars=200), LexicalSettings()))
    # The refused builds left the index as it was; --rebuild replaces it.
    assert store.read_manifest()["embedding"]["checksum"] == "fake-checksum-1"
    report = build(corpus, index, other_model, rebuild=True)
    assert report.chunks_embedded == report.chunks
    assert store.read_manifest()["embedding"]["checksum"] == "another-model"


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexMissingError, match="rag index"):
        IndexStore(tmp_path / "nothing").load()


KILLED_BUILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from tests.fakes import FakeEmbedder
    from rag.ingest.corpus import load_corpus
    from rag.indexing.builder import Indexer
    from rag.settings import ChunkSettings
    from rag.indexing.store import IndexStore
    print("started", flush=True)
    Indexer(IndexStore(Path({index!r})), FakeEmbedder(delay=0.05), ChunkSettings(max_chars=200)).update(
        load_corpus(Path({corpus!r})), rebuild=True)
""")


def test_a_killed_rebuild_leaves_the_previous_index_loadable(tmp_path):
    corpus = make_corpus(tmp_path / "c")
    index = tmp_path / "i"
    build(corpus, index, FakeEmbedder())
    store = IndexStore(index)
    version = store.current_version().name
    for name in ARTICLES:
        (corpus / f"{name}.txt").write_text(ARTICLES[name] + " Sửa đổi.", encoding="utf-8")
    script = KILLED_BUILD.format(root=str(ROOT), index=str(index), corpus=str(corpus))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    time.sleep(1.0)  # well inside the slow embedding (dozens of texts at 50 ms each)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert store.current_version().name == version
    data = store.load()
    assert len(data.chunks) == len(data.chunk_vectors) > 0
    # The next build finishes the job and cleans up what the killed one left.
    report = build(corpus, index, FakeEmbedder())
    assert report.changed == 5
    assert not [p for p in index.iterdir() if p.name.startswith(".tmp")]


def test_index_files_load_without_pickle(tmp_path):
    corpus = make_corpus(tmp_path / "c")
    build(corpus, tmp_path / "i", FakeEmbedder())
    folder = IndexStore(tmp_path / "i").current_version()
    for npy in folder.glob("*.npy"):
        np.load(npy, allow_pickle=False)
    json.loads((folder / "manifest.json").read_text())
    assert not list(folder.rglob("*.pkl")) and not list(folder.rglob("*.pickle"))


def built_index(tmp_path):
    """A corpus and its freshly built index: (corpus folder, index folder, store, active version folder)."""
    corpus = make_corpus(tmp_path / "c")
    index = tmp_path / "i"
    build(corpus, index, FakeEmbedder())
    store = IndexStore(index)
    return corpus, index, store, store.current_version()


@pytest.mark.parametrize("damage", ["chunks.faiss", "sentence_vectors.npy", "bm25", "tokens.jsonl", "format"])
def test_a_damaged_or_old_index_is_refused_with_how_to_rebuild(tmp_path, damage):
    import shutil

    corpus, index, store, folder = built_index(tmp_path)
    if damage == "format":
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["format"] = 1
        (folder / "manifest.json").write_text(json.dumps(manifest))
    elif (folder / damage).is_dir():
        shutil.rmtree(folder / damage)
    else:
        (folder / damage).unlink()
    if damage == "tokens.jsonl":
        store.load()  # questions do not need the BM25 tokens; the next build does
    else:
        with pytest.raises(IndexMismatchError, match="rag index --rebuild"):
            store.load()
    (corpus / "doc1.txt").write_text("Một bài đã sửa.", encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="rag index --rebuild"):
        build(corpus, index, FakeEmbedder())
    report = build(corpus, index, FakeEmbedder(), rebuild=True)
    assert report.chunks == len(store.load().chunks)


@pytest.mark.parametrize("damage", ["flip a byte of chunk_vectors.npy", "truncate sentences.faiss",
                                    "remove chunks.jsonl", "remove bm25"])
def test_rag_index_reports_a_damaged_index_even_when_no_article_changed(tmp_path, damage):
    import shutil

    corpus, index, store, folder = built_index(tmp_path)
    action, name = damage.split(" ")[0], damage.split(" ")[-1]
    path = folder / name
    if action == "flip":  # same size, same shape: only the recorded sha256 tells
        data = bytearray(path.read_bytes())
        data[-1] ^= 0x01
        path.write_bytes(bytes(data))
    elif action == "truncate":
        path.write_bytes(path.read_bytes()[:-8])
    elif path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    with pytest.raises(IndexMismatchError, match=f"damaged.*{name.split('.')[0]}.*rag index --rebuild"):
        build(corpus, index, FakeEmbedder())
    with pytest.raises(IndexMismatchError, match="rag index --rebuild"):
        store.verify()
    report = build(corpus, index, FakeEmbedder(), rebuild=True)
    assert report.chunks_embedded == report.chunks
    store.verify()
    assert build(corpus, index, FakeEmbedder()).chunks_embedded == 0


def test_the_manifest_records_every_file_of_the_version(tmp_path):
    corpus = make_corpus(tmp_path / "c")
    build(corpus, tmp_path / "i", FakeEmbedder())
    store = IndexStore(tmp_path / "i")
    folder = store.current_version()
    files = store.read_manifest()["files"]
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(files) == on_disk and {"chunk_vectors.npy", "chunks.faiss", "tokens.jsonl"} <= on_disk
    assert all(v["size"] == (folder / k).stat().st_size and len(v["sha256"]) == 64 for k, v in files.items())


def test_large_collections_get_an_approximate_faiss_index(monkeypatch):
    import rag.indexing.store as store

    monkeypatch.setattr(store, "EXACT_SEARCH_LIMIT", 100)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    small, large = store.build_faiss_index(vectors[:100], 16), store.build_faiss_index(vectors, 16)
    assert type(small).__name__ == "IndexFlatIP" and type(large).__name__ == "IndexIVFFlat"
    assert store.faiss_kind(100) == "IndexFlatIP" and store.faiss_kind(3000).startswith("IndexIVFFlat(nlist=219,")
    assert large.nprobe == store.IVF_NPROBE
    _, rows = large.search(vectors[:50], 1)
    assert (rows[:, 0] == np.arange(50)).mean() >= 0.95  # each vector finds itself


def test_two_builds_at_once_take_turns(tmp_path):
    import threading

    corpus = make_corpus(tmp_path / "c")
    index = tmp_path / "i"
    slow, fast = FakeEmbedder(delay=0.01), FakeEmbedder()
    said = []
    first = threading.Thread(target=lambda: build(corpus, index, slow))
    first.start()
    deadline = time.monotonic() + 60
    while not slow.embedded:  # the first build holds the lock and is embedding
        assert first.is_alive() and time.monotonic() < deadline, "the first build died before it embedded"
        time.sleep(0.01)
    report = Indexer(IndexStore(index), fast, ChunkSettings(max_chars=200), progress=said.append).update(
        load_corpus(corpus))
    first.join()
    assert any("another build" in s for s in said)
    assert fast.embedded == [] and report.chunks_embedded == 0  # it saw the finished first build
    assert len(IndexStore(index).load().chunks) == report.chunks


def test_bm25_parameters_are_part_of_the_manifest_and_an_older_manifest_reads_the_same(tmp_path):
    import json

    corpus, index, store, version = built_index(tmp_path)
    assert store.read_manifest()["lexical"] == {"method": "BM25 (bm25s)", "k1": 1.2, "b": 0.75,
                                                "tokenizer": "pyvi syllables+compounds"}
    with pytest.raises(IndexMismatchError, match="lexical"):
        Indexer(IndexStore(index), FakeEmbedder(), ChunkSettings(max_chars=200), LexicalSettings(k1=1.5)).update(
            load_corpus(corpus))
    # Written before k1 and b were settings: the same numbers as text. Read as the same index, nothing re-embedded.
    path = version / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["lexical"] = {"method": "BM25 (bm25s, k1=1.2, b=0.75)", "tokenizer": "pyvi syllables+compounds"}
    path.write_text(json.dumps(manifest))
    store.load(expected_manifest(FakeEmbedder(), ChunkSettings(max_chars=200), LexicalSettings()))
    report = build(corpus, index, FakeEmbedder())
    assert report.chunks_embedded == 0 and report.version == version.name
