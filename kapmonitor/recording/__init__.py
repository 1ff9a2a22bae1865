"""Recording a session: the :class:`Recorder` and the parts it is made of.

The public API is re-exported here: :class:`Recorder`, the listener protocol
:class:`RecorderListener`, :class:`RecorderError` and the :data:`UNSET` marker of
:meth:`Recorder.edit_observation`. The parts live in their own modules:

* ``recorder``: the locks, the commands and the listener fan-out;
* ``listener``: what the recorder tells the outside world, and its error type;
* ``baseline``: the pre-dose baseline (also used by the review summary);
* ``sensors``: attached sensors, their supervision, bounded stopping;
* ``observations``: observation revisions (add, correct, withdraw);
* ``late``: observations added or corrected after the session;
* ``closing``: ending a session, and closing one an interruption left unfinished;
* ``ticker``: the thread that ticks the recorder.
"""

from kapmonitor.recording.listener import UNSET, RecorderError, RecorderListener
from kapmonitor.recording.recorder import Recorder

__all__ = ["UNSET", "Recorder", "RecorderError", "RecorderListener"]
