"""Foundations every stage may use: errors, structured logging, metrics, markdown.

Imports nothing else from ``app``; everything else may import it."""
