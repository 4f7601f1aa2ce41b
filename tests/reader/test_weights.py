"""The shipped weights: they load over the set-up's e5-small folder, match their manifest's sha256, and reproduce the
manifest's dev figures on its fixed sample of held-out questions (read from the shared data folder)."""

import hashlib
import json

import pytest

from rag.reader.data import BENCH_SETS, bench_examples
from rag.reader.evaluate import figures, predict
from rag.reader.paths import MANIFEST_FILE, WEIGHTS_FILE, data_dir, e5_folder
from rag.reader.runtime import SpanReader

pytestmark = pytest.mark.integration
MANIFEST = json.loads(MANIFEST_FILE.read_text(encoding="utf-8"))


def test_the_weights_are_the_manifests_and_small_enough_for_the_repository():
    data = WEIGHTS_FILE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == MANIFEST["weights"]["sha256"]
    assert len(data) == MANIFEST["weights"]["bytes"] <= 25 * 1024 * 1024
    assert MANIFEST["base_model"]["folder_weights_sha256"] == json.loads(
        (e5_folder() / "checksum.json").read_text())["weights"]["sha256"]
    assert set(MANIFEST["thresholds"]) == {"vi", "en"}


def test_the_shipped_weights_reproduce_their_dev_figures_on_the_fixed_sample():
    if not data_dir().is_dir():
        pytest.fail(f"the shared data folder {data_dir()} is missing: set RAG_DATA_DIR")
    by_id = {ex.id: ex for bench in BENCH_SETS for _, ex in bench_examples(data_dir(), bench)}
    sample = MANIFEST["sample"]
    examples = [by_id[row["id"]] for row in sample]
    info = MANIFEST["reading"]
    preds = predict(SpanReader(WEIGHTS_FILE, e5_folder(), info["max_length"], info["stride"]), examples)
    for row, p in zip(sample, preds):
        assert p.margin == pytest.approx(row["margin"], abs=0.05) and p.text == row["text"], row["id"]
    again = figures(preds, MANIFEST["dev_figures_int8"]["all"]["threshold"])
    assert again == MANIFEST["sample_figures"]
