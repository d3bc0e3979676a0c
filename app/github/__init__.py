"""Talking to GitHub as the App: JWTs, installation tokens, the REST client, downloads.

May import ``app.core`` only."""
