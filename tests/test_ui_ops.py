"""ui.ops.Op: work on the worker thread, results and errors back on the GUI thread."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from ui.ops import Op
from ui.worker import DbWorker


@pytest.fixture
def worker(qtbot):  # type: ignore[no-untyped-def]
    w = DbWorker()
    yield w
    w.shutdown()


def _boxes() -> list[QMessageBox]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]


def test_work_runs_on_the_worker_and_the_result_arrives_on_the_gui_thread(qtbot, worker) -> None:  # type: ignore[no-untyped-def]
    gui = threading.get_ident()
    seen: dict[str, int] = {}

    def work() -> int:
        seen["work"] = threading.get_ident()
        return 42

    def done(value: int) -> None:
        seen["done"] = threading.get_ident()
        seen["value"] = value

    Op(work, parent=None, what="Counting").success(done).run(worker)
    qtbot.waitUntil(lambda: "value" in seen, timeout=5000)
    assert seen["value"] == 42
    assert seen["work"] != gui
    assert seen["done"] == gui


def test_a_failure_without_a_callback_is_shown_naming_what_failed(qtbot, worker) -> None:  # type: ignore[no-untyped-def]
    parent = QWidget()
    qtbot.addWidget(parent)

    def work() -> None:
        raise OSError("No space left on device")

    Op(work, parent=parent, what="Saving the clinic settings", title="Settings not saved").run(worker)
    qtbot.waitUntil(lambda: bool(_boxes()), timeout=5000)
    box = _boxes()[0]
    assert box.windowTitle() == "Settings not saved"
    assert "Saving the clinic settings could not be finished" in box.text()
    assert "No space left on device" in box.text()
    box.close()


def test_a_failure_callback_replaces_the_message_and_a_failing_success_callback_is_reported(qtbot) -> None:  # type: ignore[no-untyped-def]
    errors: list[str] = []

    def work() -> int:
        raise ValueError("locked")

    Op(work, parent=None, what="Loading").failure(lambda e: errors.append(str(e))).run(None)
    assert errors == ["locked"]

    def bad_callback(_value: int) -> None:
        raise RuntimeError("callback broke")

    Op(lambda: 1, parent=None, what="Loading").success(bad_callback).failure(
        lambda e: errors.append(str(e))).run(None)
    assert errors == ["locked", "callback broke"]
    assert not _boxes()


def test_work_that_finishes_after_its_window_was_destroyed_touches_nothing(qtbot, worker) -> None:  # type: ignore[no-untyped-def]
    """A window closed (or a test torn down) while its work runs: neither the success callback, which
    would set text on deleted labels, nor the error box parented to the dead window is called."""
    import shiboken6
    from PySide6.QtWidgets import QLabel

    parent = QWidget()
    label = QLabel(parent)
    release = threading.Event()
    calls: list[str] = []

    def work() -> int:
        release.wait(5)
        return 7

    def done(value: int) -> None:
        calls.append("done")
        label.setText(str(value))  # would raise: the label was deleted with its window

    Op(work, parent=parent, what="Starting the session").success(done).run(worker)
    Op(lambda: (release.wait(5), 1 / 0), parent=parent, what="Saving").run(worker)
    shiboken6.delete(parent)
    release.set()
    qtbot.waitUntil(lambda: worker.pending == 0, timeout=5000)
    qtbot.wait(50)
    assert calls == []
    assert _boxes() == []
