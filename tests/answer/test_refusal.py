"""The one refusal decision: the floors first, then the reader's margin against the threshold for the language."""

import dataclasses

import pytest

from rag.answer.answerability import RefusalRule
from rag.answer.reader import Reader
from rag.answer.refusal import RefusalDecision
from rag.settings import ReaderSettings

from .test_reader import Fixed, result


def decision(margin: float, floor: float = 0.5, **thresholds) -> RefusalDecision:
    rule = RefusalRule({"vi": floor, "en": floor}, check_terms=True, weak_margin=0.0)
    return RefusalDecision(rule, Reader(Fixed("Hà Nội", margin), ReaderSettings(**thresholds)))


@pytest.mark.parametrize("margin, refused", [(1.0, False), (0.0, False), (-0.5, True)])
def test_the_reader_margin_against_the_threshold_decides(margin, refused):
    d = decision(margin, threshold_vi=0.0, threshold_en=5.0).decide(result([0.1, 0.9, 0.2, 0.1]))
    assert d.refused is refused and d.margin == margin and d.readings


def test_the_floors_refuse_before_the_reader_reads():
    class Never:
        def read(self, question, contexts):
            pytest.fail("the reader must not run")

    rule = RefusalRule({"vi": 0.95, "en": 0.95}, check_terms=True, weak_margin=0.0)
    settings = ReaderSettings(threshold_vi=0.0, floor_margin=None)  # the floor alone decides
    d = RefusalDecision(rule, Reader(Never(), settings)).decide(result([0.1, 0.9, 0.2, 0.1]))
    assert d.refused and d.margin is None and d.readings == []


def test_unset_thresholds_come_from_the_shipped_manifest():
    s = ReaderSettings()
    assert s.threshold("vi") == pytest.approx(float(s.threshold("vi")))
    assert ReaderSettings(threshold_vi=1.5).threshold("vi") == 1.5


@pytest.mark.parametrize("margin, refused", [(6.0, False), (4.0, True)])
def test_a_sure_reader_overrules_the_floors_cosine(margin, refused):
    below = result([0.1, 0.9, 0.2, 0.1])  # its best cosine, 0.9, is under the floor of 0.95
    d = decision(margin, floor=0.95, threshold_vi=0.0, floor_margin=5.0).decide(below)
    assert d.refused is refused and d.margin == margin
    assert decision(margin, floor=0.95, threshold_vi=0.0, floor_margin=None).decide(below).refused  # the floor alone


def test_the_reader_never_overrules_a_number_no_passage_has():
    missing = dataclasses.replace(result([0.1, 0.9, 0.2, 0.1]), question="Hội nghị năm 2019 diễn ra ở đâu?")
    d = decision(9.0, floor=0.5, threshold_vi=0.0, floor_margin=5.0).decide(missing)
    assert d.refused and d.judgement.missing == ("2019",) and d.margin is None
