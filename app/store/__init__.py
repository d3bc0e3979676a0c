"""The durable store: loops, iterations, deliveries, ledger (SQLite, or PostgreSQL to scale)."""
