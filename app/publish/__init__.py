"""Stage 6, publishing: commits through the Git Data API, pull requests, escalation issues,
check runs, and the markdown they carry.

May import earlier stages; never ``app.admin``."""
