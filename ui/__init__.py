"""The Qt user interface and the application's composition root."""

DISTRIBUTION = "kapmonitor"
"""Whose package this is: ``ui.main`` refuses to run when ``ui`` is another distribution's (a
package of the same generic name installed beside kapmonitor)."""
