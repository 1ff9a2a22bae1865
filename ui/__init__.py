"""The Qt user interface and the application's composition root."""
