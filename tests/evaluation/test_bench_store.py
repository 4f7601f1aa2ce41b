"""eval/bench_store.py end to end at a small size: both stores, a real PostgreSQL it starts and stops, each step in
its own process, the table it writes."""

import subprocess
import sys

from ..conftest import ROOT


def test_the_store_benchmark_measures_both_stores_in_one_run(tmp_path):
    out = tmp_path / "bench_store.md"
    proc = subprocess.run([sys.executable, str(ROOT / "eval" / "bench_store.py"), "--sizes", "2000", "--dim", "16",
                           "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line.split(" | ") for line in out.read_text(encoding="utf-8").splitlines() if line.startswith("| ")][1:]  # below the header
    stores = [(r[0].strip("| "), r[2]) for r in rows]
    assert ("faiss", "FAISS in the process (exact)") in stores and ("postgres", "FAISS in the process (exact)") in stores
    assert ("postgres", "in the database, exact scan") in stores
    for r in rows:
        assert r[4] == "1.000", r  # recall@10 against exact search: exact everywhere at this size
    for r in rows[:2]:  # build, update, load and the three peaks measured, none left blank
        assert all(cell.strip() not in ("–", "") for cell in r[5:8]) and "–" not in r[8], r
    assert "--stores 2000 --store-dim 16" in out.read_text(encoding="utf-8")
