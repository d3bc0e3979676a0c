"""Stage 3, configuration: a repository's `.github/ci-fix-loop.yml`, validated and typed.

May import ``app.core``, ``app.github`` and ``app.diagnosis`` (for categories)."""
