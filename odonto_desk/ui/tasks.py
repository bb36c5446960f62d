"""The one place background work runs: a thread pool whose results come back on the UI thread.

Screens never call services directly (they block: SQLite, HTTP). They take an unstarted op from
``ui/ops/<noun>.py``, chain ``success``/``failure`` and ``run``. The op's function runs on a worker
thread and must not touch widgets; its result or exception is delivered to the callbacks on the UI
thread through a queued signal. ``TaskManager.drain`` waits for every op in flight (used at exit).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)
T = TypeVar("T")


class _Relay(QObject):
    done = Signal(object, object)  # (callback, value), emitted from a worker, delivered on the UI thread

    @Slot(object, object)
    def deliver(self, callback: Callable[[Any], None], value: Any) -> None:
        callback(value)


class TaskManager(QObject):
    """Runs ops on a thread pool. Create one in the UI thread and inject it; never a global."""

    busy_changed = Signal(int)  # ops in flight

    def __init__(self, parent: QObject | None = None, *, max_threads: int = 4) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        # Writes run one at a time, in the order they were started (undo twice = two ordered ops).
        self._writes = QThreadPool(self)
        self._writes.setMaxThreadCount(1)
        self._relay = _Relay(self)
        self._relay.done.connect(self._relay.deliver)
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def submit(self, fn: Callable[[], T], on_done: Callable[[T], None], on_error: Callable[[Exception], None],
               *, serial: bool = False) -> None:
        self._count(+1)
        manager = self

        class _Run(QRunnable):
            def run(self) -> None:  # worker thread
                try:
                    value = fn()
                except Exception as exc:  # every failure goes back to the UI as a value
                    manager._relay.done.emit(manager._finish(on_error), exc)
                else:
                    manager._relay.done.emit(manager._finish(on_done), value)

        (self._writes if serial else self._pool).start(_Run())

    def _finish(self, callback: Callable[[Any], None]) -> Callable[[Any], None]:
        def call(value: Any) -> None:
            self._count(-1)
            callback(value)
        return call

    def _count(self, delta: int) -> None:
        with self._lock:
            self._in_flight += delta
            n = self._in_flight
        self.busy_changed.emit(n)

    def drain(self, timeout_ms: int = 30_000) -> bool:
        """Wait for every running op (at exit). Results that arrive after are not delivered."""
        return bool(self._writes.waitForDone(timeout_ms)) and bool(self._pool.waitForDone(timeout_ms))


class Op(Generic[T]):
    """A unit of background work that has not started. ``QueryOp`` reads; ``MutationOp`` writes.

    ``fn`` runs on a worker thread and must not touch Qt widgets.
    """

    def __init__(self, fn: Callable[[], T], *, parent: QObject | None = None) -> None:
        self._fn = fn
        self._parent = parent
        self._on_success: Callable[[T], None] = lambda _v: None
        self._on_failure: Callable[[Exception], None] | None = None

    def success(self, fn: Callable[[T], None]) -> Op[T]:
        self._on_success = fn
        return self

    def failure(self, fn: Callable[[Exception], None]) -> Op[T]:
        self._on_failure = fn
        return self

    def run(self, tasks: TaskManager) -> None:
        tasks.submit(self._fn, self._to_parent(self._on_success),
                     self._to_parent(self._on_failure or self._default_failure), serial=isinstance(self, MutationOp))

    def _to_parent(self, callback: Callable[[Any], None]) -> Callable[[Any], None]:
        """The callback, unless the widget that started the op is gone by the time it ends (a dialog
        closed while its list loaded): its callbacks would touch deleted widgets."""
        parent = self._parent
        if parent is None:
            return callback

        def call(value: Any) -> None:
            if shiboken6.isValid(parent):
                callback(value)
            elif isinstance(value, Exception):
                log.warning("op of a closed %s failed: %s: %s", type(parent).__name__, type(value).__name__, value)

        return call

    def _default_failure(self, exc: Exception) -> None:
        from odonto_desk.ui.errors import show_error

        show_error(self._parent, exc)


class QueryOp(Op[T]):
    """Reads (cache or network); changes nothing."""


class MutationOp(Op[T]):
    """Writes through a service; its success handler receives what changed."""
