"""Shared test set-up.

Every test (and every ``kapmonitor`` process a test starts, which inherits the environment) keeps its
user data -- the recording journal above all -- in a folder of its own, never in the home directory of
whoever runs the suite.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_cluster import PgCluster, PgUnavailable

pytest_plugins = ["log_capture"]  # the `logged` fixture of the tests that read the app's log file


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path_factory.mktemp("xdg-data")
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.setenv("XDG_STATE_HOME", str(data / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(data / "config"))  # the workstation's room file
    monkeypatch.delenv("KAPMONITOR_ROOM", raising=False)
    return data


@pytest.fixture(autouse=True)
def _qt_windows_die_with_their_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Windows a Qt test leaves behind are destroyed at its end, not whenever Python collects them.

    A closed bedside window whose last reference went with its test was destroyed by the garbage
    collector at some later moment, and a later test crashed (SIGSEGV) inside pyqtgraph's
    ``GraphicsView.paintEvent`` (reproduced by tests/test_ui_app.py followed by tests/test_ui_live.py).
    Every top-level window of ours still alive after a Qt test is deleted here, through Qt; and
    the garbage of earlier tests is collected before a Qt test starts, not in the middle of one of
    its paints (which crashed tests/test_ui_live.py, run whole). Automatic collection, which the
    app hands to a GUI timer (:class:`ui.gc_guard.GuiGarbageCollector`), is given back after every
    test, so a test that builds the app without shutting it down cannot leave it off.
    """
    qt = "qtbot" in request.fixturenames
    was_enabled = gc.isenabled()
    if qt:
        gc.collect()  # what earlier tests left is freed now, not in the middle of this test's paint
    yield
    if was_enabled and not gc.isenabled():
        gc.enable()  # an app built without shutdown() leaves ui.gc_guard's timer-only collection on
    if not qt:
        return
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication

    for widget in QApplication.topLevelWidgets():
        if type(widget).__module__.split(".")[0] in ("ui", "pyqtgraph", "tests"):
            widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


# -- PostgreSQL: a throw-away cluster for the whole run, a fresh database per test --------------------

@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A private PostgreSQL server (tests/pg_cluster.py), started on first use and removed at the end.

    Skips, with the reason, when no PostgreSQL server (or psycopg) is installed.
    """
    try:
        cluster = PgCluster()
    except PgUnavailable as exc:
        pytest.skip(str(exc))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """A fresh, empty database on the test cluster: its ``postgresql+psycopg://`` URL (superuser, password).

    The server is started again if an earlier test stopped it.
    """
    pg_cluster.start()
    return pg_cluster.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on each supported store: a new SQLite file path, or a fresh PostgreSQL database URL."""
    if request.param == "sqlite":
        return str(tmp_path / "kapmonitor.db")
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def real_loop(qtbot: object) -> Iterator[None]:
    """For a test that runs ``ui.launch.run_gui`` on the application's own event loop.

    Once that loop has returned, the windows it closed (or that are deleted) post Qt's "quit on
    last window closed", and a quit outside ``exec()`` leaves the thread's quit flag set: every
    later ``QEventLoop.exec`` -- pytest-qt's ``waitUntil``/``waitSignal`` in the next tests of the
    same worker -- returned at once and timed out (reproduced by tests/test_16_launch.py followed
    by tests/test_ui_live.py). The deferred deletes and that posted quit are run here, inside one
    more short ``exec()``, which clears the flag at its start and its end.
    """
    yield
    from PySide6.QtCore import QCoreApplication, QEvent, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    for widget in QApplication.topLevelWidgets():
        if type(widget).__module__.split(".")[0] in ("ui", "pyqtgraph", "tests"):
            widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QTimer.singleShot(0, app.quit)
    app.exec()
