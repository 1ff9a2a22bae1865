"""The headless command line: ``record``, ``sessions``, ``export`` and ``report``.

Each module assembles the pieces its command needs (store, sensor, recorder) without a
window; :mod:`ui.main` maps the parsed command (:mod:`kapmonitor.cli`) to them.
"""
