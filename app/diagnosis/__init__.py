"""Stage 2, diagnosis: gather a failed run's logs and annotations, classify the failure.

May import ``app.core`` and ``app.github``; pure except ``gather``."""
