"""Pure decisions and the engine through fake ports: no network, no subprocess."""
