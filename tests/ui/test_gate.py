import threading
import time

import pytest

from rag.errors import BusyError
from ui.gate import GatedChatModel, ModelGate

from ..fakes import FakeChatModel


def test_the_gate_serves_one_call_at_a_time_in_arrival_order():
    gate = ModelGate(max_waiting=5)
    served, inside = [], []

    def call(i):
        with gate.turn():
            inside.append(i)
            assert len(inside) == 1
            time.sleep(0.02)
            served.append(i)
            inside.remove(i)

    with gate.turn():  # held: the others line up behind it in the order they come
        threads = []
        for i in range(4):
            t = threading.Thread(target=call, args=(i,))
            t.start()
            threads.append(t)
            while gate.waiting < i + 1:
                time.sleep(0.001)
    for t in threads:
        t.join(5)
    assert served == [0, 1, 2, 3] and gate.waiting == 0


def test_past_max_waiting_a_call_is_told_the_server_is_busy():
    gate = ModelGate(max_waiting=1)
    release = threading.Event()
    with gate.turn():
        t = threading.Thread(target=gate_enter, args=(gate, release))
        t.start()
        while gate.waiting < 1:
            time.sleep(0.001)
        with pytest.raises(BusyError, match=r"the server is busy: the model has 2 questions before yours \(at most "
                                            r"1 may wait\); try again in a minute"):
            with gate.turn():
                pass
    release.set()
    t.join(5)
    with gate.turn():  # the line is free again
        pass


def gate_enter(gate, release):
    with gate.turn():
        release.wait(5)


def test_the_gated_model_is_made_on_first_use_and_streams_through_the_gate():
    made = []
    fake = FakeChatModel(reply=lambda system, user: "một hai ba")
    model = GatedChatModel(make=lambda: made.append(1) or fake, gate=ModelGate(max_waiting=0))
    assert made == []
    assert "".join(c.content for c in model.stream("câu hỏi")) == "một hai ba"
    assert model.invoke("câu hỏi").content == "một hai ba" and made == [1] and len(fake.prompts) == 2
    with model.gate.turn():  # the model is busy and no one may wait
        with pytest.raises(BusyError):
            model.invoke("câu hỏi")


def test_a_local_models_worker_process_runs_below_the_server(monkeypatch):
    import os
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "import threading, time; "
                             "threading.Thread(target=time.sleep, args=(30,)).start(); time.sleep(30)"])
    try:
        time.sleep(0.5)

        class Worker:
            pid = proc.pid

        class WithWorker(FakeChatModel):
            @property
            def worker(self):
                return Worker()

        fake = WithWorker(reply=lambda system, user: "một hai")
        tids = os.listdir(f"/proc/{proc.pid}/task")
        assert len(tids) == 2
        base = os.getpriority(os.PRIO_PROCESS, 0)  # the server's (0 unless the tests run under nice)
        same = GatedChatModel(make=lambda: fake, gate=ModelGate(max_waiting=1), nice=0)
        assert "".join(c.content for c in same.stream("câu hỏi")) == "một hai"
        assert {os.getpriority(os.PRIO_PROCESS, int(t)) for t in tids} == {base}  # 0: left as it is
        model = GatedChatModel(make=lambda: fake, gate=ModelGate(max_waiting=1), nice=base + 7)
        assert "".join(c.content for c in model.stream("câu hỏi")) == "một hai"
        assert {os.getpriority(os.PRIO_PROCESS, int(t)) for t in tids} == {base + 7}
        assert os.getpriority(os.PRIO_PROCESS, 0) == base  # the server itself is unchanged
    finally:
        proc.kill()
        proc.wait()


def test_the_retrieval_line_lets_model_free_questions_go_first_then_arrival_order():
    from ui.gate import PriorityLine

    line = PriorityLine(slots=1)
    order = []

    def take(name, priority):
        with line.turn(priority):
            order.append(name)

    with line.turn():  # the one slot is busy
        threads = []
        for name, priority in (("en-1", 1), ("vi-1", 0), ("en-2", 1), ("vi-2", 0)):
            t = threading.Thread(target=take, args=(name, priority))
            t.start()
            threads.append(t)
            while len(line._waiting) < len(threads):
                time.sleep(0.001)
    for t in threads:
        t.join(5)
    assert order == ["vi-1", "vi-2", "en-1", "en-2"]


def test_the_gate_serves_at_once_as_many_calls_as_the_model_writes_together_the_rest_in_arrival_order():
    gate = ModelGate(max_waiting=5, at_once=3)
    inside, most, entered = [], [0], []
    lock, release = threading.Lock(), threading.Event()

    def call(i):
        with gate.turn():
            with lock:
                entered.append(i)
                inside.append(i)
                most[0] = max(most[0], len(inside))
            release.wait(5)
            with lock:
                inside.remove(i)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(7)]
    for i, t in enumerate(threads):
        t.start()
        while len(entered) < min(i + 1, 3) or gate.waiting < i + 1 - 3:  # served at once, then in line
            time.sleep(0.001)
    assert sorted(entered) == [0, 1, 2] and gate.waiting == 4
    release.set()
    for t in threads:
        t.join(5)
    assert most[0] == 3 and entered[3:] == [3, 4, 5, 6] and gate.waiting == 0
