"""Stage 1, intake: verify and record a delivery, answer GitHub, route it as typed values.

May import ``app.core``, ``app.store`` and ``app.github``; never a later stage. The
handlers it calls are ports (``app.intake.ports``) that later stages implement."""
