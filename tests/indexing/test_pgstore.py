"""The PostgreSQL store against a real PostgreSQL with pgvector, which these tests start and stop (pgserver)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import numpy as np
import pytest

from rag.errors import IndexMismatchError, IndexMissingError
from rag.indexing.builder import Indexer
from rag.indexing.pgstore import PostgresStore, StoreUnreachableError
from rag.indexing.store import IndexStore, expected_manifest
from rag.ingest.corpus import load_corpus
from rag.settings import ChunkSettings, LexicalSettings

from ..conftest import ROOT
from ..fakes import FakeEmbedder, FakeSpanModel
from .test_builder import ARTICLES, make_corpus


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory):
    from rag.indexing import pglocal

    server = pglocal.start(tmp_path_factory.mktemp("pgdata"), cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture
def store(pg_url):
    return PostgresStore(pg_url, store=f"test-{uuid.uuid4().hex[:8]}")


def build(folder, store, embedder, rebuild=False, **kw):
    return Indexer(store, embedder, ChunkSettings(max_chars=200), **kw).update(load_corpus(folder), rebuild=rebuild)


def test_a_build_reads_back_as_the_folder_store_writes_it(tmp_path, store):
    corpus = make_corpus(tmp_path / "c")
    build(corpus, store, FakeEmbedder())
    build(corpus, IndexStore(tmp_path / "i"), FakeEmbedder())
    pg, folder = store.load(), IndexStore(tmp_path / "i").load()
    assert [c.chunk_id for c in pg.chunks] == [c.chunk_id for c in folder.chunks]
    assert np.allclose(pg.chunk_vectors, folder.chunk_vectors, atol=1e-6)
    assert np.allclose(pg.sentence_vectors, folder.sentence_vectors, atol=1e-6)
    assert pg.sentence_keys == folder.sentence_keys and pg.docs == folder.docs
    q = FakeEmbedder().embed_queries(["kinh tế"])
    assert list(pg.dense.search(q, 3)[1][0]) == list(folder.dense.search(q, 3)[1][0])
    tokens = ["kinh", "tế"]
    assert np.allclose(pg.lexical.scores(tokens), folder.lexical.scores(tokens))
    assert store.verify().version == store.current_version().name == pg.version


def test_changing_one_document_embeds_only_its_text_and_keeps_one_previous_version(tmp_path, store, pg_url):
    corpus = make_corpus(tmp_path / "c")
    build(corpus, store, FakeEmbedder())
    first = store.current_version().name
    new_text = ARTICLES["doc3"] + " Một câu mới được thêm vào cuối bài."
    (corpus / "doc3.txt").write_text(new_text, encoding="utf-8")
    emb = FakeEmbedder()
    report = build(corpus, store, emb)
    assert (report.added, report.changed, report.unchanged) == (0, 1, 4)
    assert emb.embedded and all(e in new_text for e in emb.embedded)
    assert store.load().docs["doc3"].text == new_text
    (corpus / "doc3.txt").write_text(new_text + " Thêm nữa.", encoding="utf-8")
    build(corpus, store, FakeEmbedder())
    with store.connect() as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM rag_versions WHERE store = %s", (store.name,))]
    assert len(versions) == 2 and first not in versions  # the active one and the one before it


def test_a_mismatched_index_is_refused_with_the_folders_message(tmp_path, store):
    build(make_corpus(tmp_path / "c"), store, FakeEmbedder())
    expected = expected_manifest(FakeEmbedder(dimension=32), ChunkSettings(max_chars=200), LexicalSettings())
    with pytest.raises(IndexMismatchError, match=r"was built with embedding .* run `rag index --rebuild`"):
        store.load(expected)
    with pytest.raises(IndexMissingError, match="run `rag index`"):
        PostgresStore(store.url, store="never-built").load()


def test_readers_see_the_old_version_until_the_new_one_is_committed(tmp_path, store):
    corpus = make_corpus(tmp_path / "c")
    build(corpus, store, FakeEmbedder())
    old = store.current_version().name
    writer = store.connect()
    writer.execute("BEGIN")
    writer.execute("UPDATE rag_current SET version = 'v-half-done' WHERE store = %s", (store.name,))
    writer.execute("DELETE FROM rag_chunks WHERE store = %s", (store.name,))
    assert store.load().version == old and len(store.load().chunks) > 0  # not blocked, not half-done
    writer.rollback()
    writer.close()
    assert store.load().version == old


KILLED_BUILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    import rag.indexing.pgstore as pgstore
    from rag.indexing.builder import Indexer
    from rag.ingest.corpus import load_corpus
    from rag.settings import ChunkSettings
    from tests.fakes import FakeEmbedder
    vector = pgstore._vector
    def slow(row):  # the writer is inside its transaction, rows written, when it is killed
        print("writing", flush=True)
        time.sleep(0.5)
        return vector(row)
    pgstore._vector = slow
    store = pgstore.PostgresStore({url!r}, store={name!r})
    Indexer(store, FakeEmbedder(), ChunkSettings(max_chars=200)).update(load_corpus({corpus!r}))
""")


def test_a_killed_writer_leaves_the_previous_index_served_and_the_lock_free(tmp_path, store):
    corpus = make_corpus(tmp_path / "c")
    build(corpus, store, FakeEmbedder())
    version = store.current_version().name
    for name in ARTICLES:
        (corpus / f"{name}.txt").write_text(ARTICLES[name] + " Sửa đổi.", encoding="utf-8")
    script = KILLED_BUILD.format(root=str(ROOT), url=store.url, name=store.name, corpus=str(corpus))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert store.current_version().name == version and len(store.load().chunks) > 0
    said = []
    report = build(corpus, store, FakeEmbedder(), progress=said.append)  # the lock went with the killed session
    assert report.changed == 5 and not any("another build" in s for s in said)


def test_two_builds_at_once_take_turns(tmp_path, store):
    corpus = make_corpus(tmp_path / "c")
    slow, fast = FakeEmbedder(delay=0.01), FakeEmbedder()
    said = []
    first = threading.Thread(target=lambda: build(corpus, store, slow))
    first.start()
    deadline = time.monotonic() + 60
    while not slow.embedded:
        assert first.is_alive() and time.monotonic() < deadline, "the first build died before it embedded"
        time.sleep(0.01)
    report = build(corpus, store, fast, progress=said.append)
    first.join()
    assert any("another build" in s for s in said)
    assert fast.embedded == [] and report.chunks_embedded == 0


def test_a_server_that_is_down_or_refuses_the_login_is_a_clear_message(pg_url):
    down = PostgresStore("postgresql://rag:secret@127.0.0.1:9/rag", connect_timeout=2)
    with pytest.raises(StoreUnreachableError, match=r"cannot be reached .*rag pg start.*unchanged") as err:
        down.exists()
    assert "secret" not in str(err.value) and "secret" not in down.root
    stranger = PostgresStore(pg_url.replace("postgres:@", "nobody:@").replace("postgres@", "nobody@"))
    with pytest.raises(StoreUnreachableError, match="refused the login.*check the user and password"):
        stranger.exists()


def test_the_assistant_answers_from_the_database(tmp_path, settings, pg_url, fake_embedder):
    from rag.assistant import Assistant

    pg = settings.replace(store="postgres", pg_url=pg_url, pg_store=f"assistant-{uuid.uuid4().hex[:6]}")
    a, b = Assistant(pg, embedder=fake_embedder, span_model=FakeSpanModel()), Assistant(settings, embedder=FakeEmbedder(), span_model=FakeSpanModel())
    question = "Kim ngạch thương mại hai chiều ASEAN - Nhật Bản năm 2024 đạt bao nhiêu?"
    ours, theirs = a.ask(question), b.ask(question)  # the first question builds each index
    assert ours.text == theirs.text and [p.chunk_id for p in ours.passages] == [p.chunk_id for p in theirs.passages]
    # A second process on the same database sees the same index without building it.
    other = Assistant(pg, embedder=FakeEmbedder(), span_model=FakeSpanModel())
    assert other.index_data().version == a.index_data().version


@pytest.mark.integration
def test_processes_share_the_database_while_a_rebuild_runs(tmp_path, store, corpus_dir):
    """`rag ask` in two processes, the real e5-small embedder, while a third process rebuilds the same index."""
    env = {**os.environ, "RAG_STORE": "postgres", "RAG_PG_URL": store.url, "RAG_PG_STORE": store.name,
           "RAG_EMBEDDER": "e5-small", "RAG_CORPUS": str(corpus_dir), "RAG_BACKEND": "extractive"}
    rag = [sys.executable, "-m", "rag.cli"]
    first = subprocess.run(rag + ["index", "--json"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    before = store.current_version().name
    question = "Kim ngạch thương mại hai chiều ASEAN - Nhật Bản năm 2024 đạt bao nhiêu?"
    rebuild = subprocess.Popen(rag + ["index", "--rebuild", "--json"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    asks = [subprocess.Popen(rag + ["ask", question, "--json"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    replies = [p.communicate(timeout=600) for p in asks]
    rebuilt = rebuild.communicate(timeout=600)
    assert rebuild.returncode == 0, rebuilt[1]
    for p, (out, err) in zip(asks, replies):
        assert p.returncode == 0, err
        answer = json.loads(out)
        assert "236,6 tỷ USD" in answer["answer"] and answer["citations"]
    assert store.current_version().name != before  # the rebuild made a new version; the readers were not stopped


def test_a_faiss_index_over_a_bytea_value_is_stored_in_parts(tmp_path, store, monkeypatch):
    import rag.indexing.pgstore as pgstore

    monkeypatch.setattr(pgstore, "FAISS_PART_BYTES", 1000)  # a bytea holds 1 GB: a million vectors need parts
    build(make_corpus(tmp_path / "c"), store, FakeEmbedder())
    with store.connect() as conn:
        parts = conn.execute("SELECT count(*) FROM rag_faiss_parts WHERE store = %s AND name = 'chunks'",
                             (store.name,)).fetchone()[0]
    data = store.load()
    assert parts > 3 and data.dense.ntotal == len(data.chunks)
    q = FakeEmbedder().embed_queries(["kinh tế"])
    assert list(data.dense.search(q, 3)[1][0]) == list(np.argsort(-(data.chunk_vectors @ q[0]))[:3])


def test_a_build_reads_the_version_it_replaces_without_its_search_indexes(tmp_path, store):
    corpus = make_corpus(tmp_path / "c")
    folder = IndexStore(tmp_path / "i")
    for s in (store, folder):
        build(corpus, s, FakeEmbedder())
        full, bare = s.load(), s.verify(search=False)
        assert bare.lexical is None and bare._faiss == {}  # neither read nor built
        assert np.array_equal(bare.chunk_vectors, full.chunk_vectors) and bare.docs == full.docs
        assert bare.chunks == full.chunks and bare.sentence_keys == full.sentence_keys
    assert store.load(search=False).tokens == store.read_tokens(store.current_version().name)


def test_a_serving_process_answers_from_its_loaded_version_while_the_server_is_down(tmp_path, settings,
                                                                                   fake_embedder):
    from rag.assistant import Assistant
    from rag.indexing import pglocal

    server = pglocal.start(tmp_path / "pgdata", cleanup_mode="stop")
    pg = settings.replace(store="postgres", pg_url=server.get_uri())
    notes = []
    assistant = Assistant(pg, embedder=fake_embedder, span_model=FakeSpanModel(), notify=notes.append)
    question = "Kim ngạch thương mại hai chiều ASEAN - Nhật Bản năm 2024 đạt bao nhiêu?"
    before = assistant.ask(question)
    version = assistant.index_data().version
    server.cleanup()  # the server stops; the kept connection is dead
    during = assistant.ask(question)
    assert during.text == before.text and during.citations == before.citations
    assert any("cannot be reached" in n and version in n for n in notes)
    fresh = Assistant(pg, embedder=FakeEmbedder(), span_model=FakeSpanModel())  # a process with nothing loaded says what is wrong
    with pytest.raises(StoreUnreachableError, match="rag pg start"):
        fresh.ask(question)
    server = pglocal.start(tmp_path / "pgdata", cleanup_mode="stop")  # back: the connection is made again
    try:
        assert assistant.store.current_version().name == version
    finally:
        server.cleanup()


@pytest.mark.parametrize("ivf", [False, True])
def test_a_load_takes_the_vectors_and_bm25_as_built_and_a_version_without_bm25_files_still_loads(
        tmp_path, store, monkeypatch, ivf):
    import rag.indexing.store as folder_store

    if ivf:  # IVFFlat, as at 50,000 chunks and more: its vectors come out of the inverted lists
        monkeypatch.setattr(folder_store, "EXACT_SEARCH_LIMIT", 10)
    build(make_corpus(tmp_path / "c"), store, FakeEmbedder())
    rows = store.load(search=False)  # the embedding columns
    data = store.load()
    assert type(data.dense).__name__ == ("IndexIVFFlat" if ivf else "IndexFlatIP")
    assert np.array_equal(data.chunk_vectors, rows.chunk_vectors)
    assert np.array_equal(data.sentence_vectors, rows.sentence_vectors)
    rebuilt = folder_store.LexicalIndex.build(rows.tokens)
    for question in (["kinh", "tế"], ["nhật", "bản", "2024"], ["không_có"]):
        assert np.allclose(data.lexical.scores(question), rebuilt.scores(question))
    with store.connect() as conn:  # a version saved before the BM25 files were stored
        files = conn.execute("DELETE FROM rag_files WHERE store = %s", (store.name,)).rowcount
        conn.commit()
    older = store.load()
    assert files >= 4 and np.allclose(older.lexical.scores(["kinh", "tế"]), rebuilt.scores(["kinh", "tế"]))


def test_a_damaged_stored_faiss_index_is_refused_with_what_to_do(tmp_path, store):
    build(make_corpus(tmp_path / "c"), store, FakeEmbedder())
    with store.connect() as conn:
        conn.execute("UPDATE rag_faiss_parts SET data = substring(data from 1 for 60) WHERE store = %s AND "
                     "name = 'sentences'", (store.name,))
        conn.commit()
    with pytest.raises(IndexMismatchError, match="FAISS index sentences .* cannot be read .*rag index --rebuild"):
        store.load()
    build(make_corpus(tmp_path / "c"), store, FakeEmbedder(), rebuild=True)  # what the message says to do
    assert store.load().sentence_index.ntotal == len(store.load().sentence_keys)
