"""System benchmark, section 1: index build throughput from an empty folder, ours against the peer recipe.

    python eval/bench_build.py [--quick] [--out FILE.md] [--json FILE]

On the xquad-vi-dev corpus (120 paragraphs; the first 40 with --quick), in a fresh subprocess per system and
embedder (both embedders, ours and the peer; `python eval/bench_system.py --child index ...`): model load
(libraries imported included), then the build: documents/s, texts embedded/s, characters/s; the same processes
give the peak RSS while indexing (section 4, eval/bench_memory.py). Part of eval/bench_system.py's full run.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its siblings: system_common, common, peer

from system_common import SYSTEMS, XQUAD, log, num, part_main, ratio, run_child  # noqa: E402


def embedded_chars(data) -> tuple[int, int]:
    """Characters of the chunk texts and of the distinct sentence texts our index embedded."""
    from rag.indexing.builder import chunk_embed_text

    chunk_chars = 0
    for c in data.chunks:
        doc = data.docs[c.doc_id]
        chunk_chars += len(chunk_embed_text(doc, c.to_chunk(doc.text)))
    seen, sent_chars = set(), 0
    for j, c in enumerate(data.chunks):
        doc = data.docs[c.doc_id]
        for a, b in c.sentences:
            s = doc.text[a:b]
            if s not in seen:
                seen.add(s)
                sent_chars += len(s)
    return chunk_chars, sent_chars


def bench_build(tmp: Path, sizes: dict, out: dict):
    """Section 1 (and section 4's indexing memory): a fresh subprocess per system and embedder."""
    corpus = XQUAD / "corpus"
    files = sorted(corpus.glob("*.txt"))[:sizes["build_docs"]]
    if sizes["build_docs"]:  # --quick: the first paragraphs only
        corpus = tmp / "xquad-build-corpus"
        corpus.mkdir()
        for f in files:
            shutil.copyfile(f, corpus / f.name)
    corpus_chars = sum(len(p.read_text(encoding="utf-8")) for p in files)
    res = {}
    for system, e in SYSTEMS:
        r = res[f"{system}/{e}"] = run_child(["--child", "index", "--child-system", system, "--child-embedder", e,
                                              "--child-corpus", str(corpus),
                                              "--child-index", str(tmp / f"xquad-{system}-{e}")])
        log(f"build {system}/{e}: load {r['load_s']:.1f} s, build {r['build_s']:.1f} s, "
            f"peak RSS {r['peak_rss_mb']:.0f} MB")
    out["build"] = {"documents": len(files), "all_documents": len(list((XQUAD / "corpus").glob("*.txt"))),
                    "corpus_chars": corpus_chars, "systems": res}


def render_build(out: dict) -> list[str]:
    """Section 1 of the report, as markdown lines."""
    L = []
    b = out["build"]
    bs = b["systems"]
    part = f", the first {b['documents']} of {b['all_documents']}" if b["documents"] < b["all_documents"] else ""
    L += [f"## 1. Index build from an empty folder ({b['documents']} xquad-vi-dev paragraphs{part}, "
          f"{b['corpus_chars']:,} characters)", "",
          "A fresh subprocess per system and embedder. Model load includes importing the system's libraries "
          "(torch already imported); build = from an empty folder with the model loaded. The last column compares "
          "ours with the peer on the same embedder.", "",
          "| system | embedder | model load s | build s | texts embedded | documents/s | texts embedded/s | "
          "corpus characters/s | embedded characters/s | build ours/peer |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for system, e in SYSTEMS:
        r = bs[f"{system}/{e}"]
        cmp = ratio(r["build_s"], bs[f"peer/{e}"]["build_s"]) if system == "ours" else ""
        L.append(f"| {system} | {e} | {r['load_s']:.2f} | {r['build_s']:.2f} | {r['texts']:,} | "
                 f"{num(b['documents'] / r['build_s'])} | {num(r['texts'] / r['build_s'])} | "
                 f"{num(b['corpus_chars'] / r['build_s'])} | {num(r['embedded_chars'] / r['build_s'])} | {cmp} |")
    L += [""] + [f"- {system} ({e}) embeds {bs[f'{system}/{e}']['chunks']} chunks"
                 + (f" + {bs[f'{system}/{e}']['sentences']} sentences" if system == "ours" else "")
                 + f" ({bs[f'{system}/{e}']['embedded_chars']:,} characters)." for system, e in SYSTEMS]
    L += ["", "For documents/s and characters/s higher is better; for times lower is better. Ours runs "
              "embeddinggemma as int8 ONNX (onnxruntime) and e5-small in PyTorch; the peer runs both in float32 "
              "sentence-transformers.", ""]
    return L


def main(argv=None) -> int:
    return part_main(argv, __doc__, ("build",), render_build, "Index build: ours vs the LangChain peer recipe",
                     "bench_build.py", "Embedders: embeddinggemma (ours' default, int8 ONNX) and e5-small, each for ours and the peer.")


if __name__ == "__main__":
    raise SystemExit(main())
