"""The op runner: results come back on the UI thread, and never to a widget that is gone."""

from __future__ import annotations

import threading

import shiboken6
from PySide6.QtWidgets import QWidget

from odonto_desk.ui.tasks import MutationOp, QueryOp, TaskManager


def _held(gate: threading.Event, value: object):
    def fn():
        assert gate.wait(5)
        if isinstance(value, Exception):
            raise value
        return value
    return fn


def test_a_result_reaches_a_live_parent(qtbot):
    tasks, parent, got = TaskManager(), QWidget(), []
    qtbot.addWidget(parent)
    gate = threading.Event()
    QueryOp(_held(gate, 42), parent=parent).success(got.append).run(tasks)
    gate.set()
    qtbot.waitUntil(lambda: got == [42], timeout=3000)
    assert tasks.in_flight == 0


def test_a_result_or_failure_for_a_deleted_parent_is_dropped_and_the_count_still_falls(qtbot):
    tasks, parent, got = TaskManager(), QWidget(), []
    gate = threading.Event()
    QueryOp(_held(gate, 42), parent=parent).success(got.append).failure(got.append).run(tasks)
    MutationOp(_held(gate, KeyError("gone")), parent=parent).success(got.append).failure(got.append).run(tasks)
    shiboken6.delete(parent)  # the dialog closed while its ops ran
    gate.set()
    qtbot.waitUntil(lambda: tasks.in_flight == 0, timeout=3000)
    assert got == []
