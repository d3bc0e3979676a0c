"""Stage 5, fixing: private checkout, sandbox, fixers, guard, verify, prompts, one attempt.

May import earlier stages; never ``app.publish`` or ``app.admin``."""
