"""The shipped weights: they load over the set-up's e5-small folder, match their manifest's sha256, and reproduce the
manifest's readings of its fixed sample of held-out questions. The sample's questions and paragraphs ship beside
this test (tests/reader/weights_sample.jsonl: held-out xquad-vi-dev questions, CC BY-SA 4.0, and changed-detail
negatives made from them), so it needs nothing outside the repository but the set-up's e5-small folder."""

import hashlib
import json

import pytest

from rag.training.data import Example
from rag.training.evaluate import figures, predict
from rag.reader.paths import SAMPLE_FILE
from rag.reader.runtime import SpanReader
from rag.settings import ReaderSettings

pytestmark = pytest.mark.integration
SHIPPED = ReaderSettings()
WEIGHTS_FILE = SHIPPED.weights
MANIFEST = json.loads(WEIGHTS_FILE.with_name("manifest.json").read_text(encoding="utf-8"))


def test_the_weights_are_the_manifests_and_small_enough_for_the_repository():
    data = WEIGHTS_FILE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == MANIFEST["weights"]["sha256"]
    assert len(data) == MANIFEST["weights"]["bytes"] <= 25 * 1024 * 1024
    assert MANIFEST["base_model"]["folder_weights_sha256"] == json.loads(
        (SHIPPED.base_dir / "checksum.json").read_text())["weights"]["sha256"]
    assert set(MANIFEST["thresholds"]) == {"vi", "en"}


def test_the_shipped_weights_reproduce_their_readings_of_the_fixed_sample():
    rows = [json.loads(line) for line in SAMPLE_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    examples = [Example(r["id"], "sample", r["question"], r["context"], r["answer_start"], r["answer_text"],
                        r["lang"], "vi", tuple(r["answers"])) for r in rows]
    sample = MANIFEST["sample"]
    assert [r["id"] for r in rows] == [s["id"] for s in sample]
    assert any(not e.answerable for e in examples) and any(e.lang_question == "en" for e in examples)
    info = MANIFEST["reading"]
    preds = predict(SpanReader(WEIGHTS_FILE, SHIPPED.base_dir, info["max_length"], info["stride"]), examples)
    for row, p in zip(sample, preds):
        assert p.margin == pytest.approx(row["margin"], abs=0.05) and p.text == row["text"], row["id"]
    again = figures(preds, MANIFEST["dev_figures_int8"]["all"]["threshold"])
    assert again == MANIFEST["sample_figures"]
