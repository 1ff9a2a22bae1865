"""Issue 12: a headless session gives the structured discharge on the command line.

``kapmonitor record`` runs a real simulated session (at 1200x) through the real recorder and
journaled store; the answers given up front are checked before anything is recorded and filed
with the end, next to what the record says.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from db.store import SqlStore
from kapmonitor.discharge import Discharge, Support
from kapmonitor.types import EventKind
from ui.main import main


def _record(db: Path, *options: str, minutes: str = "125") -> int:
    mp = pytest.MonkeyPatch()
    mp.setattr("sys.stdin", io.StringIO(""))
    try:
        return main(["--db", str(db), "record", "--speed", "1200", "--baseline-minutes", "2",
                     "--minutes", minutes, "--seed", "5", "--client", "K-043", "--dose-mg", "100",
                     "--clinician", "JQ", *options])
    finally:
        mp.undo()


def _answers(db: Path) -> Discharge | None:
    with SqlStore.open(db) as store:
        (summary,) = store.sessions()
        ended = [e for e in store.events(summary.session_id) if e.kind is EventKind.SESSION_ENDED]
        return Discharge.from_data(ended[0].data)


def test_the_answers_given_up_front_are_filed_with_the_end(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "k.db"
    status = _record(db, "--adverse-events", "yes", "--adverse-details", "nausea, settled with water",
                     "--serious", "no", "--dissociation", "yes", "--medications", "benzodiazepines",
                     "--discharge-item", "min_observation_met", "--discharge-item", "accompanied_home",
                     "--discharge-item", "bp_near_baseline", "--ready-to-leave", "122")
    assert status == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    answers = _answers(db)
    assert answers is not None
    assert answers.adverse_events is True and answers.adverse_event_details == "nausea, settled with water"
    assert answers.serious_adverse_event is False
    assert answers.dissociation is True
    assert answers.concomitant_medications == ("benzodiazepines",)
    assert answers.fit_to_leave_by == "JQ", "the clinician by default"
    items = {i.name: i for i in answers.items}
    assert items["min_observation_met"].met and items["min_observation_met"].support is Support.SUPPORTED
    assert items["accompanied_home"].met and items["accompanied_home"].support is Support.CLINICIAN
    assert not items["spo2_room_air"].met and not items["alert_oriented"].met
    # the simulated strap gives no blood pressure: ticking it without a reason is not filed as met
    assert not items["bp_near_baseline"].met and items["bp_near_baseline"].support is Support.NO_DATA
    assert "“Blood pressure within ±20 mmHg of baseline” is not filed as met: no data supports it" in err
    assert "--discharge-item bp_near_baseline=REASON" in err
    with SqlStore.open(db) as store:
        dose_at = store.session(store.sessions()[0].session_id).dose_at
    assert dose_at is not None and answers.ready_to_leave_at is not None
    assert round((answers.ready_to_leave_at - dose_at).total_seconds() / 60) == 122


def test_without_discharge_options_the_end_has_no_answers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "k.db"
    assert _record(db, minutes="3") == 0, capsys.readouterr().err
    assert _answers(db) is None


@pytest.mark.parametrize(("options", "message"), [
    (("--discharge-item", "spo2"), "--discharge-item: no checklist item 'spo2'; the clinic's items are "
                                    "spo2_room_air, bp_near_baseline"),
    (("--medications", "ssri"), "--medications: no medication 'ssri'; the clinic's list is benzodiazepines"),
    (("--medications", "none,maois"), "'none' cannot be combined"),
    (("--serious", "yes"), "--serious yes needs --adverse-events yes"),
    (("--adverse-events", "yes", "--serious", "yes", "--serious-outcome", "hospital"),
     "--serious-outcome: no outcome 'hospital'; one of hospitalisation"),
    (("--sedation", "maybe"), "--sedation must be one of yes, no, record, got 'maybe'"),
    (("--fit-to-leave-by", "J1"), "--fit-to-leave-by: initials are letters"),
])
def test_a_wrong_answer_is_refused_before_anything_is_recorded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], options: tuple[str, ...], message: str) -> None:
    db = tmp_path / "k.db"
    try:
        status = _record(db, *options)
    except SystemExit as exc:  # argparse refuses a value it can check itself
        status = exc.code  # type: ignore[assignment]
    assert status == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    if db.exists():
        with SqlStore.open(db) as store:
            assert store.sessions() == [], "nothing recorded"
