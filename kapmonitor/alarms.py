"""The alarm engine: readings and sensor states in, alarm-log transitions out.

Designed after patient monitors (IEC 60601-1-8, CLINICAL.md "Alarms"):

* **Condition delay** -- a value must stay beyond a rule's limit for ``delay_s`` of monotonic
  clock time before the alarm is raised; one in-range reading resets the timer.
* **Hysteresis** -- a raised alarm's condition clears only when the value is back inside the
  limit by ``hysteresis``.
* **States** -- ``active`` -> ``acknowledged`` (audio off, visible while the condition persists)
  or ``audio_paused`` (for ``audio_pause_s``; audio resumes if the condition persists). When the
  condition clears, medium and low alarms resolve; **high alarms latch** (``latched``, still
  audible) until acknowledged, and acknowledging a latched alarm resolves it.
* **Problems** -- alarms of one vital, or technical alarms of one sensor, are one problem
  (:mod:`kapmonitor.alarm_problems`). Acknowledging any alarm acknowledges its whole problem; an
  alarm raised later into an acknowledged problem, at no higher priority than what was
  acknowledged, is raised already acknowledged (detail "problem already acknowledged"). Every
  rule is still raised and logged on its own.
* **Bedside quiet period** -- acknowledge and pause audio act on the bedside's sound as a whole:
  both silence every other medium/high alarm present for ``audio_pause_s`` (``audio_paused``)
  and open a quiet period of that length. An alarm raised during the quiet period at no higher
  priority than the highest one just silenced is raised audio-paused until the period ends
  (detail "during audio pause"); one of *higher* priority sounds at once. This follows IEC
  60601-1-8 practice as CLINICAL.md puts it (the pause silences what the therapist has seen;
  a new, worse condition is not hidden) and its KAP rule that the client must not be startled
  by the same problem chiming again.
* **Escalation** -- a medium/high alarm whose audio has been on, unacknowledged and unpaused,
  for ``escalate_after_s`` is marked ``escalated`` (the UI raises the volume). Low alarms are
  soft: they never escalate and a pause press leaves them be (they chime once; acknowledge them
  instead), though one raised during a quiet period waits silently for its end.
* **Technical alarms** -- per watched stream "no data" (``no_data.<stream>``, medium); per sensor
  "no skin contact" (``no_contact.<sensor_id>``, low), "battery low" (``battery_low.<sensor_id>``,
  low), "signal lost" (``signal_lost.<sensor_id>``, medium, on ``SensorState.LOST`` until the
  sensor is CONNECTED again) and "sensor sending implausible values" (``implausible.<sensor_id>``,
  medium, on a burst; see :mod:`kapmonitor.technical_checks`).

Stale data never counts as in range. The chosen behaviour: a physiological alarm's condition
changes only on a fresh, valid reading, so while a stream is stale its alarms stay exactly as
they were (a raised alarm neither clears nor latches). A pending (delayed) condition is dropped
when its stream goes stale (no valid reading for ``no_data_s``, or its sensor reported
RECONNECTING/LOST/DISCONNECTED since its last reading): the value was not seen to stay beyond
the limit. For sparse streams (blood pressure) a delay therefore means "a later reading is still
beyond the limit at least ``delay_s`` after the first", the two-readings rule some clinics use.
Readings flagged ``ARTIFACT``/``NO_CONTACT`` count as data (no "no data" alarm) but are never
compared with limits, and they reset pending delays of their stream.

Implausible readings: every reading is first passed through :func:`kapmonitor.streams.checked`
(the recorder does so too; checking twice is harmless), so a value outside its stream's possible
range, or not finite, carries ``IMPLAUSIBLE``. Such a reading is not a measurement of the patient:
it never raises, clears or delays a physiological alarm (pending delays are left as they were),
and it is not data for "no data", so a sensor sending only nonsense ends in "no data". The one
exception is a value the sensor itself sent flagged ``NO_CONTACT`` (many straps send heart rate 0
without skin contact): that sensor is talking and has said why, "no skin contact" covers it, so
it is handled like any other ``NO_CONTACT`` reading (data, never compared, resets pending delays)
and does not feed the implausible-values alarm. Every other implausible reading feeds "sensor
sending implausible values" of its sensor.

Every state change yields exactly one :class:`~kapmonitor.types.AlarmTransition` (``at`` from
``clock.now()``; all durations from ``clock.monotonic()``), with ``action`` one of ``raised``,
``acknowledged``, ``audio_paused``, ``audio_resumed``, ``condition_cleared``, ``resolved``
(ended by a settings change or a sensor removed), ``escalated``, ``limit_changed``.
:meth:`AlarmEngine.set_baseline` returns nothing; the ``limit_changed`` transitions it causes are
returned by the next call that returns transitions (normally the next :meth:`AlarmEngine.tick`).

The engine is **not thread-safe**: the caller (the recorder) must serialise all calls.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from kapmonitor import streams
from kapmonitor.alarm_problems import problem_key
from kapmonitor.alarm_record import ActiveAlarm, AlarmRecord
from kapmonitor.alarm_settings import AlarmSettings, LimitRule
from kapmonitor.alarm_supervision import SensorSupervisor
from kapmonitor.clock import Clock
from kapmonitor.technical_checks import TechnicalCondition
from kapmonitor.types import (
    AlarmCategory,
    AlarmPriority,
    AlarmState,
    AlarmTransition,
    Reading,
    ReadingFlag,
    SensorState,
    SensorStatus,
    Stream,
)

__all__ = ["AlarmEngine"]

logger = logging.getLogger(__name__)

_TECH = AlarmCategory.TECHNICAL


class AlarmEngine:
    """Evaluates alarm rules; see the module docstring for the semantics.

    Args:
        settings: validated on entry (:class:`~kapmonitor.alarm_settings.AlarmSettingsError` if invalid).
        clock: wall time for transitions, monotonic time for every delay and timeout.
    """

    def __init__(self, settings: AlarmSettings, clock: Clock) -> None:
        settings.validate()
        self._settings = settings
        self._clock = clock
        self._alarms: dict[str, AlarmRecord] = {}
        self._pending: dict[str, float] = {}  # rule id -> monotonic time the condition began
        self._deferred: list[AlarmTransition] = []
        self._baselines: dict[Stream, float] = {}
        self._sup = SensorSupervisor()
        self._overdue: dict[str, TechnicalCondition] = {}
        self._raised_count = 0
        self._quiet_until: float | None = None
        self._quiet_ceiling = AlarmPriority.LOW
        """The bedside quiet period: its end (monotonic) and the highest priority it silenced."""

    # -- configuration ------------------------------------------------------------------------

    @property
    def settings(self) -> AlarmSettings:
        return self._settings

    def update_settings(self, settings: AlarmSettings) -> list[AlarmTransition]:
        """Switch to new (validated) settings and re-evaluate against the latest live values.

        Alarms of removed or disabled rules, or of rules whose stream/direction/baseline mode
        changed, are ``resolved``; alarms whose limit, priority, label or hysteresis changed log
        ``limit_changed`` and then clear if the latest live value is inside the new limit.
        Delay timers of changed rules restart now. Technical limits apply at once.
        """
        settings.validate()
        old = {r.alarm_id: r for r in self._settings.rules}
        self._settings = settings
        now = self._clock.monotonic()
        out = self._drain()
        rules = self._rules()
        for rule_id in list(self._pending):
            if rules.get(rule_id) != old.get(rule_id):
                del self._pending[rule_id]
        for alarm in self._sorted(AlarmCategory.PHYSIOLOGICAL):
            out.extend(self._apply_rule_change(alarm, old[alarm.alarm_id], rules.get(alarm.alarm_id), now))
        for rule in rules.values():
            last = self._live_value(rule.stream, now)
            if rule != old.get(rule.alarm_id) and rule.alarm_id not in self._alarms and last is not None:
                out.extend(self._evaluate(rule, last, now))
        logger.info("alarm settings updated: %d rules", len(settings.rules))
        return out + self._reconcile(now)

    def set_baseline(self, stream: Stream, value: float) -> None:
        """Set the session baseline that baseline-relative rules on ``stream`` measure from.

        Pending delays of those rules restart; a raised alarm's limit moves (``limit_changed``,
        returned by the next call that returns transitions).

        Raises:
            ValueError: if ``value`` is not a finite number.
        """
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"baseline for {stream}: must be a finite number, got {value!r}")
        self._baselines[stream] = float(value)
        for rule in self._rules().values():
            if rule.stream == stream and rule.relative_to_baseline:
                self._pending.pop(rule.alarm_id, None)
                alarm = self._alarms.get(rule.alarm_id)
                threshold = rule.threshold(float(value))
                if alarm is not None and alarm.limit != threshold:
                    alarm.limit = threshold
                    self._deferred.append(self._emit(alarm, "limit_changed", f"baseline {value:g}"))

    def baseline(self, stream: Stream) -> float | None:
        return self._baselines.get(stream)

    def set_sensor_name(self, sensor_id: str, name: str) -> None:
        """Use ``name`` (e.g. "Polar H10") instead of the address in new technical alarm labels."""
        self._sup.set_name(sensor_id, name)

    # -- inputs -------------------------------------------------------------------------------

    def on_reading(self, reading: Reading) -> list[AlarmTransition]:
        """Evaluate the rules of ``reading.stream``; a battery reading feeds "battery low".

        The reading is range-checked first (:func:`kapmonitor.streams.checked`); implausible
        readings are handled as the module docstring says.
        """
        now = self._clock.monotonic()
        out = self._drain()
        reading = streams.checked(reading)
        stream = reading.stream
        if reading.flags & ReadingFlag.IMPLAUSIBLE and not reading.flags & ReadingFlag.NO_CONTACT:
            self._sup.record_implausible(reading.sensor_id, now)
            return out + self._reconcile(now)
        if stream == Stream.BATTERY:
            if streams.usable(stream, reading.flags):
                self._sup.record_battery(reading.sensor_id, reading.value)
            return out + self._reconcile(now)
        self._sup.record_data(stream, reading.sensor_id, now)
        rules = [r for r in self._rules().values() if r.stream == stream]
        if streams.usable(stream, reading.flags):
            self._sup.record_valid(stream, reading.value, now)
            for rule in rules:
                out.extend(self._evaluate(rule, reading.value, now))
        else:
            for rule in rules:
                self._pending.pop(rule.alarm_id, None)
        return out + self._reconcile(now)

    def on_sensor_status(self, status: SensorStatus) -> list[AlarmTransition]:
        """Track link state (signal lost), skin contact and battery level of one sensor.

        LOST raises "signal lost" at once; CONNECTED clears it; RECONNECTING and LOST make the
        sensor's streams stale at once ("no data" follows after ``no_data_s``). DISCONNECTED
        means deliberately removed and acts as :meth:`unwatch`. ``contact=None`` and
        ``battery_pct=None`` mean "not reported" and change nothing.
        """
        now = self._clock.monotonic()
        if status.state == SensorState.DISCONNECTED:
            return self.unwatch(status.sensor_id)
        self._sup.record_status(status, now)
        return self._drain() + self._reconcile(now)

    def set_overdue_checks(self, overdue: Mapping[str, tuple[str, float, float]]) -> None:
        """The scheduled checks now overdue past their grace: ``{name: (label, late_s, grace_s)}``.

        With the clinic's ``technical.overdue_check_alarm`` on, each raises "Check overdue: <label>"
        (low priority, id ``check_overdue.<name>``) at the next :meth:`tick`, and it clears when the
        check is done or dismissed (the caller stops listing it). Off, this changes nothing.
        """
        self._overdue = {
            f"check_overdue.{name}": TechnicalCondition(
                f"check_overdue.{name}", f"Check overdue: {label}", AlarmPriority.LOW,
                value=round(late_s, 3), limit=grace_s)
            for name, (label, late_s, grace_s) in overdue.items()
        }

    def watch_stream(self, stream: Stream, sensor_id: str) -> None:
        """Start "no data" supervision of ``stream`` fed by ``sensor_id`` (idempotent).

        Only :data:`~kapmonitor.streams.CONTINUOUS_STREAMS` are supervised; other streams are ignored.
        """
        self._sup.watch(stream, sensor_id, self._clock.monotonic())

    def unwatch(self, sensor_id: str) -> list[AlarmTransition]:
        """Forget a deliberately removed sensor: stop supervising its streams, end its technical alarms.

        Call it when a sensor is removed or the session ends, not when its signal is lost.
        Returns the ``resolved`` transitions (signal lost, no contact, battery, no data of streams
        nobody watches any more).
        """
        out = self._drain()
        for alarm_id in self._sup.unwatch(sensor_id):
            alarm = self._alarms.get(alarm_id)
            if alarm is not None:
                out.append(self._resolve(alarm, "sensor removed"))
        return out

    # -- time ---------------------------------------------------------------------------------

    def tick(self) -> list[AlarmTransition]:
        """Run the timers: condition delays, no data, no contact, audio-pause expiry, escalation.

        Call it regularly (1-4 Hz). Calling it again without the clock moving returns nothing.
        """
        now = self._clock.monotonic()
        out = self._drain()
        rules = self._rules()
        for rule_id, start in list(self._pending.items()):
            rule = rules[rule_id]
            last = self._live_value(rule.stream, now)
            if last is None:
                del self._pending[rule_id]
            elif now - start >= rule.delay_s:
                out.extend(self._evaluate(rule, last, now))
        out.extend(self._reconcile(now))
        if self._quiet_until is not None and now >= self._quiet_until:
            self._quiet_until, self._quiet_ceiling = None, AlarmPriority.LOW
        for alarm in self._sorted():
            expired = alarm.paused_until is not None and now >= alarm.paused_until
            if expired and alarm.condition_present and not alarm.acknowledged:
                alarm.paused_until, alarm.audible_since = None, now
                out.append(self._emit(alarm, "audio_resumed"))
            overdue = now - alarm.audible_since >= self._settings.escalate_after_s
            if alarm.priority != AlarmPriority.LOW and alarm.audio_on and not alarm.escalated and overdue:
                alarm.escalated = True
                out.append(self._emit(alarm, "escalated"))
        return out

    # -- therapist actions --------------------------------------------------------------------

    def acknowledge(self, alarm_id: str | None = None) -> list[AlarmTransition]:
        """Acknowledge the problem of ``alarm_id`` (or every alarm with ``None``).

        Every alarm of the problem (same vital, or same sensor) is acknowledged: audio off, it
        stays visible while present; a latched one is resolved. The bedside's other alarms are
        audio-paused and a quiet period begins (see the module docstring). Unknown or already
        acknowledged alarms are ignored (the alarm may have resolved just before the click).
        """
        now = self._clock.monotonic()
        out = self._drain()
        targets = self._problem_of(alarm_id)
        silenced = [a.priority for a in targets if a.audio_on]
        for alarm in targets:
            if not alarm.condition_present:
                del self._alarms[alarm.alarm_id]
                out.append(self._emit(alarm, "acknowledged", state=AlarmState.RESOLVED))
            elif not alarm.acknowledged:
                alarm.acknowledged, alarm.paused_until, alarm.escalated = True, None, False
                out.append(self._emit(alarm, "acknowledged"))
        if targets:
            out.extend(self._quiet(now, silenced))
        return out

    def pause_audio(self, alarm_id: str | None = None) -> list[AlarmTransition]:
        """Silence the bedside's alarm sound for ``audio_pause_s`` and open a quiet period.

        ``alarm_id`` is the alarm the therapist saw (an unknown one does nothing: it may have
        resolved just before the click); the pause acts on every audible medium/high alarm.
        Low alarms are soft and already chimed once; a pause does not change them. Pausing a
        paused alarm does not extend its pause. A paused latched alarm stays silent until
        acknowledged (its condition has gone).
        """
        if alarm_id is not None and alarm_id not in self._alarms:
            return self._drain()
        return self._drain() + self._quiet(self._clock.monotonic(), [])

    def quiet_until(self) -> float | None:
        """The end (monotonic) of the bedside quiet period, or None when there is none."""
        if self._quiet_until is not None and self._clock.monotonic() >= self._quiet_until:
            return None
        return self._quiet_until

    # -- queries ------------------------------------------------------------------------------

    def active(self) -> list[ActiveAlarm]:
        """Alarms not yet resolved, high > medium > low, then oldest first."""
        return [a.snapshot(self._settings.audio_pause_s) for a in self._sorted()]

    def highest_audible(self) -> ActiveAlarm | None:
        """The alarm whose sound should play (highest priority, oldest), or None for silence."""
        return next((a for a in self.active() if a.audio_on), None)

    # -- internals ----------------------------------------------------------------------------

    def _rules(self) -> dict[str, LimitRule]:
        return {r.alarm_id: r for r in self._settings.rules if r.enabled}

    def _sorted(self, category: AlarmCategory | None = None) -> list[AlarmRecord]:
        alarms = (a for a in self._alarms.values() if category is None or a.category == category)
        return sorted(alarms, key=AlarmRecord.sort_key)

    def _problem_of(self, alarm_id: str | None) -> list[AlarmRecord]:
        """Every alarm of ``alarm_id``'s problem (all alarms for None; none if unknown)."""
        if alarm_id is None:
            return self._sorted()
        chosen = self._alarms.get(alarm_id)
        if chosen is None:
            return []
        key = problem_key(chosen)
        return [a for a in self._sorted() if problem_key(a) == key]

    def _quiet(self, now: float, silenced: list[AlarmPriority]) -> list[AlarmTransition]:
        """Pause every audible medium/high alarm, and open (or widen) the quiet period if this
        or the caller silenced anything (``silenced``: the priorities the caller turned off)."""
        out = []
        until = now + self._settings.audio_pause_s
        for alarm in self._sorted():
            if alarm.priority != AlarmPriority.LOW and alarm.audio_on:
                alarm.paused_until, alarm.escalated = until, False
                silenced.append(alarm.priority)
                out.append(self._emit(alarm, "audio_paused", "bedside audio paused"))
        if silenced:
            if self.quiet_until() is None or self._quiet_until is None:
                self._quiet_until, self._quiet_ceiling = until, AlarmPriority.LOW
            else:
                self._quiet_until = max(self._quiet_until, until)
            self._quiet_ceiling = min((self._quiet_ceiling, *silenced), key=lambda p: p.rank)
        return out

    def _raised(self, alarm: AlarmRecord, detail: str = "") -> AlarmTransition:
        """Log a new alarm: already acknowledged if its problem is (at this priority or higher),
        audio-paused if the quiet period covers its priority (module docstring)."""
        rank = alarm.priority.rank
        alarm.raised_value = alarm.value
        key = problem_key(alarm)
        acked = any(
            a.acknowledged and a.priority.rank <= rank
            for a in self._alarms.values()
            if a is not alarm and problem_key(a) == key
        )
        quiet = self.quiet_until()
        if acked:
            alarm.acknowledged = True
            detail = "; ".join(p for p in (detail, "problem already acknowledged") if p)
        elif quiet is not None and rank >= self._quiet_ceiling.rank:
            alarm.paused_until = quiet
            detail = "; ".join(p for p in (detail, "during audio pause") if p)
        return self._emit(alarm, "raised", detail)

    def _drain(self) -> list[AlarmTransition]:
        out, self._deferred = self._deferred, []
        return out

    def _live_value(self, stream: Stream, now: float) -> float | None:
        return self._sup.live_value(stream, now, self._settings.technical.no_data_s)

    def _evaluate(self, rule: LimitRule, value: float, now: float) -> list[AlarmTransition]:
        """Apply one fresh valid ``value`` to ``rule`` (delay, hysteresis, latch)."""
        threshold = rule.threshold(self._baselines.get(rule.stream))
        if threshold is None:
            return []
        alarm = self._alarms.get(rule.alarm_id)
        if alarm is not None:
            if alarm.condition_present:
                alarm.value = value
                return [self._clear(alarm)] if rule.is_clear(value, threshold) else []
            if rule.is_beyond(value, threshold):
                alarm.value, alarm.raised_value, alarm.condition_present = value, value, True
                return [self._emit(alarm, "raised", "condition returned while latched")]
            return []
        if not rule.is_beyond(value, threshold):
            self._pending.pop(rule.alarm_id, None)
            return []
        start = self._pending.setdefault(rule.alarm_id, now)
        if now - start < rule.delay_s:
            return []
        del self._pending[rule.alarm_id]
        baseline = self._baselines.get(rule.stream)
        detail = f"baseline {baseline:g}" if rule.relative_to_baseline and baseline is not None else ""
        alarm = self._new(
            rule.alarm_id,
            rule.label,
            rule.priority,
            AlarmCategory.PHYSIOLOGICAL,
            rule.stream,
            None,
            value,
            threshold,
        )
        return [self._raised(alarm, detail)]

    def _apply_rule_change(
        self, alarm: AlarmRecord, old: LimitRule, rule: LimitRule | None, now: float
    ) -> list[AlarmTransition]:
        if rule is None:
            return [self._resolve(alarm, "rule removed or disabled")]
        if rule == old:
            return []
        if (rule.stream, rule.direction, rule.relative_to_baseline) != (
            old.stream,
            old.direction,
            old.relative_to_baseline,
        ):
            return [self._resolve(alarm, "rule changed")]
        alarm.label, alarm.priority = rule.label, rule.priority
        alarm.limit = rule.threshold(self._baselines.get(rule.stream))
        out = [self._emit(alarm, "limit_changed", rule.describe())]
        if not alarm.condition_present and rule.priority != AlarmPriority.HIGH:
            return [*out, self._resolve(alarm, "priority no longer latches")]
        if rule.priority == AlarmPriority.LOW != old.priority and alarm.paused_until is not None:
            alarm.paused_until, alarm.audible_since = None, now
            out.append(self._emit(alarm, "audio_resumed", "low alarms are not audio-paused"))
        last = self._live_value(rule.stream, now)
        if alarm.condition_present and last is not None and alarm.limit is not None:
            alarm.value = last
            if rule.is_clear(last, alarm.limit):
                out.append(self._clear(alarm))
        return out

    def _reconcile(self, now: float) -> list[AlarmTransition]:
        """Make the technical alarms match the conditions the supervisor sees now."""
        conditions = self._sup.conditions(now, self._settings.technical)
        if self._settings.technical.overdue_check_alarm:
            conditions.update(self._overdue)
        out = []
        for alarm in self._sorted(_TECH):
            cond = conditions.get(alarm.alarm_id)
            if cond is None:
                out.append(self._clear(alarm))
                continue
            alarm.value = cond.value
            if cond.limit != alarm.limit:
                alarm.limit = cond.limit
                out.append(self._emit(alarm, "limit_changed"))
        for alarm_id, cond in conditions.items():
            if alarm_id not in self._alarms:
                out.append(self._raise_technical(cond))
        return out

    def _raise_technical(self, cond: TechnicalCondition) -> AlarmTransition:
        alarm = self._new(
            cond.alarm_id,
            cond.label,
            cond.priority,
            _TECH,
            cond.stream,
            cond.sensor_id,
            cond.value,
            cond.limit,
        )
        return self._raised(alarm)

    def _new(
        self,
        alarm_id: str,
        label: str,
        priority: AlarmPriority,
        category: AlarmCategory,
        stream: Stream | None,
        sensor_id: str | None,
        value: float | None,
        limit: float | None,
    ) -> AlarmRecord:
        alarm = AlarmRecord(
            alarm_id,
            label,
            priority,
            category,
            stream,
            sensor_id,
            self._clock.now(),
            self._clock.monotonic(),
            value,
            limit,
            sequence=self._raised_count,
        )
        self._raised_count += 1
        self._alarms[alarm_id] = alarm
        return alarm

    def _clear(self, alarm: AlarmRecord) -> AlarmTransition:
        """The condition has gone: high alarms latch unless acknowledged; others resolve."""
        if alarm.priority == AlarmPriority.HIGH and not alarm.acknowledged:
            alarm.condition_present = False
            return self._emit(alarm, "condition_cleared")
        del self._alarms[alarm.alarm_id]
        return self._emit(alarm, "condition_cleared", state=AlarmState.RESOLVED)

    def _resolve(self, alarm: AlarmRecord, detail: str) -> AlarmTransition:
        del self._alarms[alarm.alarm_id]
        return self._emit(alarm, "resolved", detail, state=AlarmState.RESOLVED)

    def _emit(
        self, alarm: AlarmRecord, action: str, detail: str = "", state: AlarmState | None = None
    ) -> AlarmTransition:
        transition = alarm.transition(self._clock.now(), action, detail, state)
        logger.debug("alarm %s %s -> %s", alarm.alarm_id, action, transition.state)
        return transition
