"""Regression test for the PySide6 6.12.0 reference-counting bug on Python 3.11.

PySide6 6.12.0 on Python < 3.12 gets reference counts wrong on signal emission and on calls of void C++ methods
(the values involved are singletons such as True, False and None, which are immortal only from Python 3.12 on);
after some thousands of such calls the interpreter aborts. pyproject.toml
excludes that release (`!=6.12.0` for python_version < '3.12'). This test does exactly what the console does at
high rates — emits bool/object signals and calls void Qt methods tens of thousands of times in one process — so an
installation with the broken release crashes here instead of in a user's training session.
"""
from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel

N = 20_000


class Emitter(QObject):
    flag = Signal(bool)
    payload = Signal(object)


class Sink(QObject):
    def __init__(self):
        super().__init__()
        self.flags: list = []
        self.payloads: list = []

    def on_flag(self, v):
        self.flags.append(v)

    def on_payload(self, v):
        self.payloads.append(v)


def test_many_signal_emits_and_void_calls(qapp):
    e, s = Emitter(), Sink()
    e.flag.connect(s.on_flag)
    e.payload.connect(s.on_payload)
    refs_none, refs_true = sys.getrefcount(None), sys.getrefcount(True)
    values = [None, True, False, 0, 1.5, "x", (1, 2), {"k": None}]
    for i in range(N):
        e.flag.emit(i % 2 == 0)
        e.payload.emit(values[i % len(values)])
    label = QLabel("x")
    for i in range(N):                 # void C++ calls
        label.setVisible(bool(i % 2))
        label.update()
        label.setText("a" if i % 2 else "b")
    qapp.processEvents()
    assert len(s.flags) == N and s.flags[:4] == [True, False, True, False]
    assert s.flags.count(True) == N // 2
    assert len(s.payloads) == N
    assert all(p is values[i % len(values)] or p == values[i % len(values)] for i, p in enumerate(s.payloads))
    assert s.payloads.count(None) == N // len(values)
    # the singletons' reference counts neither leak nor drain with the number of calls (before Python 3.12 they
    # are real counts; from 3.12 on they are immortal and this holds trivially)
    del s.flags[:], s.payloads[:]
    assert abs(sys.getrefcount(None) - refs_none) < N // 10
    assert abs(sys.getrefcount(True) - refs_true) < N // 10
    label.deleteLater()
