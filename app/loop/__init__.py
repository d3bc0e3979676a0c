"""Stage 4, the loop: ports, state machine, pure policy, budget, breaker, runner, job queue.

May import earlier stages and ``app.store``; the fix, publish and admin stages
implement its ports (``app.loop.ports``) and are never imported here."""
