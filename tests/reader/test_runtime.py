"""The two runtimes of the shipped weights read alike: ONNX Runtime over the int8 graph (its activations quantised
on the fly, so some spans move by a word or two) finds answers as well as torch does on the fixed sample the
manifest records (tests/reader/weights_sample.jsonl), with margins close to torch's."""

import json

import pytest

from rag.errors import ModelError
from rag.reader.paths import SAMPLE_FILE
from rag.reader.runtime import SpanReader
from rag.settings import ReaderSettings
from rag.training.data import Example
from rag.training.evaluate import figures, predict

pytestmark = pytest.mark.integration
SHIPPED = ReaderSettings()


def test_the_int8_graph_finds_answers_as_well_as_torch():
    rows = [json.loads(line) for line in SAMPLE_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    examples = [Example(r["id"], "sample", r["question"], r["context"], r["answer_start"], r["answer_text"],
                        r["lang"], "vi", tuple(r["answers"])) for r in rows]
    by = {}
    for runtime in ("torch", "onnx-int8"):
        reader = SpanReader(SHIPPED.weights, SHIPPED.base_dir, SHIPPED.max_length, SHIPPED.stride, runtime=runtime)
        by[runtime] = predict(reader, examples)
    assert SpanReader(SHIPPED.weights, SHIPPED.base_dir, runtime="onnx-int8").onnx_path().is_file()
    f1 = {k: figures(v, 0.0)["span_f1_if_answered"] for k, v in by.items()}
    assert f1["onnx-int8"] >= f1["torch"] - 0.05, f1
    gaps = sorted(abs(a.margin - b.margin) for a, b in zip(by["torch"], by["onnx-int8"]))
    assert gaps[len(gaps) // 2] < 1.0, gaps


def test_an_unknown_runtime_is_refused_with_the_choices():
    with pytest.raises(ModelError, match="torch, onnx-int8"):
        SpanReader(SHIPPED.weights, SHIPPED.base_dir, runtime="tensorflow")
