"""The second server: GitHub's storage hosts (log blobs, codeload) behind signed URLs.

It exists as a separate origin so tests prove the app follows redirects *without* its
credentials: any request carrying ``Authorization`` is recorded as a leak and refused, as
the real storage would refuse (and log) it.
"""

from __future__ import annotations

from aiohttp import web

from .models import Leak
from .state import GitHubState

CHUNK = 64 * 1024


class BlobHost:
    def __init__(self, state: GitHubState, leaks: list[Leak]) -> None:
        self.state = state
        self.leaks = leaks

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if "Authorization" in request.headers:
            self.leaks.append(Leak(request.method, request.path, "Authorization"))
            return web.Response(
                status=400,
                text="Only one auth mechanism allowed; the signed URL already authenticates.",
            )
        blob = self.state.blobs.get(request.query.get("sig", ""))
        if blob is None or blob.path != request.path or request.method not in ("GET", "HEAD"):
            return web.Response(status=403, text="AuthenticationFailed: signature not valid")
        response = web.StreamResponse(headers={"Content-Type": blob.content_type})
        # Chunked, so clients must stream: multi-megabyte logs arrive in pieces.
        response.enable_chunked_encoding()
        await response.prepare(request)
        if request.method == "GET":
            for start in range(0, len(blob.data), CHUNK):
                await response.write(blob.data[start : start + CHUNK])
        await response.write_eof()
        return response
