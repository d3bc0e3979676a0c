"""Real SQLite, PostgreSQL, git, subprocesses and the fake GitHub's own self-test."""
