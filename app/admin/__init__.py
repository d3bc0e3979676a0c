"""Around the pipeline: App setup, status, maintainer commands, installations, ``/hooks/ci``.

The last stage: may import any other."""
