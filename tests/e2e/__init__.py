"""The app (or a stage of it) against the fake GitHub over loopback."""
