"""FakeGitHub: the stateful GitHub the whole suite talks to, on two loopback servers.

Every API request goes through one pipeline: record it, apply an injected fault if one
matches, find the operation in GitHub's OpenAPI description, check parameters and body,
authenticate, run the handler, complete and self-check the JSON answer, add GitHub's
headers. Anything GitHub would refuse lands in ``violations``, which fails the test.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import json
import secrets
import socket
import traceback
from collections.abc import Callable, Mapping
from datetime import datetime
from http import HTTPStatus
from typing import Any

import graphql
from aiohttp import web

from . import (
    routes_actions,
    routes_app,
    routes_checks,
    routes_git,
    routes_issues,
    routes_pulls,
    routes_repos,
    routes_reviews,
)
from .auth import credentials, generate_private_key_pem, public_key_pem, verify_app_jwt
from .blobhost import BlobHost
from .faults import Fault, FaultPlan
from .graphql_api import GraphQLEndpoint, default_schema
from .http import ApiError, Reply, error_body
from .models import Leak, RecordedRequest, Violation
from .openapi import MISSING, OpenAPI
from .routes_app import RATE_LIMIT
from .routing import Auth, Ctx, Route
from .state import FakeClock, GitHubState

ROUTE_TABLES = (
    routes_app.routes,
    routes_actions.routes,
    routes_checks.routes,
    routes_git.routes,
    routes_repos.routes,
    routes_issues.routes,
    routes_pulls.routes,
    routes_reviews.routes,
)
MAX_REQUEST_BYTES = 100 * 1024 * 1024  # GitHub accepts blobs up to 100 MB


def load_spec() -> OpenAPI:
    """GitHub's description from the shared directory (see ``tests.support.shared_dir``)."""
    from tests.support import shared_dir

    return OpenAPI.load(shared_dir() / "github" / "openapi-subset.json")


def all_routes(spec: OpenAPI) -> dict[tuple[str, str], Route]:
    """Every handler, keyed like the description; refuses to build a fake that lacks one."""
    routes: dict[tuple[str, str], Route] = {}
    for table in ROUTE_TABLES:
        routes.update(table.routes)
    documented = {(op.method, op.template) for op in spec.operations}
    if documented != set(routes):
        raise RuntimeError(
            "the fake and the OpenAPI description disagree: "
            f"unimplemented {sorted(documented - set(routes))}, "
            f"undocumented {sorted(set(routes) - documented)}"
        )
    return routes


class FakeGitHub(GitHubState):
    """A fake GitHub REST API. Use as ``async with FakeGitHub() as fake:`` or via the fixture.

    ``app_id``/``private_key_pem`` identify the app whose JWTs are accepted (a key pair is
    generated when no key is given). ``self_check`` validates every JSON answer against the
    documented response schema and records mismatches as violations. ``POST /graphql`` is
    validated against ``graphql_schema`` (GitHub's, from the shared directory, by default).
    """

    def __init__(
        self,
        *,
        app_id: int = 4242,
        private_key_pem: str | None = None,
        app_slug: str = "ci-fix-loop",
        webhook_secret: str | None = None,
        spec: OpenAPI | None = None,
        clock: Callable[[], datetime] | None = None,
        self_check: bool = True,
        graphql_schema: graphql.GraphQLSchema | None = None,
    ) -> None:
        spec = spec or load_spec()
        super().__init__(
            app_id=app_id,
            app_slug=app_slug,
            private_key_pem=private_key_pem or generate_private_key_pem(),
            webhook_secret=webhook_secret or secrets.token_hex(20),
            clock=clock or FakeClock(),
            spec=spec,
        )
        self.public_key_pem = public_key_pem(self.private_key_pem)
        self.self_check = self_check
        self.graphql_schema = graphql_schema  # GitHub's schema, loaded at the first query
        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self.leaks: list[Leak] = []
        self.faults = FaultPlan()
        self._routes = all_routes(spec)
        self._runners: list[web.AppRunner] = []

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API base URL, without a trailing slash (pass it as gidgethub's ``base_url``)."""
        return self.api_url

    async def start(self, host: str = "127.0.0.1") -> None:
        api = web.Application(client_max_size=MAX_REQUEST_BYTES)
        api.router.add_route("*", "/{tail:.*}", self._handle)
        self.api_url = await self._serve(api, host)
        self.blob_url = await self._serve(BlobHost(self, self.leaks).app(), host)

    async def _serve(self, app: web.Application, host: str) -> str:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        self._runners.append(runner)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((host, 0))
        await web.SockSite(runner, sock).start()
        return f"http://{host}:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()

    async def __aenter__(self) -> FakeGitHub:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- test helpers ------------------------------------------------------------------

    def calls(
        self, method: str | None = None, path_glob: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded API requests, filtered by method and an fnmatch glob on the path."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (path_glob is None or fnmatch.fnmatchcase(r.path, path_glob))
        ]

    def inject(
        self,
        method: str,
        path_pattern: str,
        *,
        status: int,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        reset_connection: bool = False,
        delay_s: float = 0,
    ) -> Fault:
        """Answer the next ``times`` matching requests with this fault (see :class:`Fault`)."""
        return self.faults.add(
            Fault(
                method,
                path_pattern,
                status,
                times,
                dict(headers or {}),
                body,
                reset_connection,
                delay_s,
            )
        )

    def problems(self) -> list[str]:
        """Violations and leaks, as the fixture reports them."""
        return [str(v) for v in self.violations] + [str(leak) for leak in self.leaks]

    # -- the pipeline ------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        body: Any = MISSING
        bad_json = False
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                bad_json = True
        query = {key: request.query.getall(key) for key in request.query}
        self.requests.append(
            RecordedRequest(
                request.method,
                request.path,
                {k: v[-1] for k, v in query.items()},
                headers,
                None if body is MISSING else body,
            )
        )
        fault = self.faults.take(request.method, request.path)
        if fault is not None:
            return await self._fault(request, headers, fault)
        if request.path == "/graphql" and request.method == "POST":
            reply = self._graphql(request, headers, None if bad_json else body)
        elif bad_json:
            reply = self._refuse(request, 400, "Problems parsing JSON", "body is not JSON")
        else:
            reply = self._answer(request, headers, query, body)
        return self._respond(request, headers, reply)

    def _graphql(self, request: web.Request, headers: dict[str, str], body: Any) -> Reply:
        """GitHub's GraphQL endpoint: installation tokens only; see :mod:`.graphql_api`."""
        value = credentials(headers.get("authorization"))
        token = self.live_token(value) if value else None
        if token is None:
            return Reply(401, error_body("This endpoint requires you to be authenticated."))
        self.rate_used[token.value] += 1
        if self.graphql_schema is None:
            self.graphql_schema = default_schema()
        answer = GraphQLEndpoint(self, self.graphql_schema).answer(body, token)
        for problem in answer.problems:
            self._violation("graphql", request, problem)
        return Reply(answer.status, answer.body)

    def _violation(self, kind: str, request: web.Request, detail: str) -> None:
        self.violations.append(Violation(kind, request.method, request.path_qs, detail))

    def _refuse(self, request: web.Request, status: int, message: str, detail: str) -> Reply:
        self._violation("request", request, detail)
        return Reply(status, error_body(message))

    def _answer(
        self,
        request: web.Request,
        headers: dict[str, str],
        query: dict[str, list[str]],
        body: Any,
    ) -> Reply:
        match = self.spec.match(request.method, request.raw_path.split("?")[0])
        if match is None:
            return self._refuse(request, 404, "Not Found", "no such operation in the OpenAPI")
        check = self.spec.check_request(match, query, body)
        if check.path_problems:
            return self._refuse(request, 404, "Not Found", "; ".join(check.path_problems))
        if check.problems:
            self._violation("request", request, "; ".join(check.problems))
            return Reply(422, error_body("Invalid request.\n\n" + "\n".join(check.problems)))
        op = match.operation
        ctx = Ctx(
            state=self,
            method=op.method,
            path=request.path,
            params=check.path_params,
            query=check.query,
            raw_query={k: v[-1] for k, v in query.items()},
            body=body,
            headers=headers,
        )
        route = self._routes[(op.method, op.template)]
        try:
            self._authenticate(route.auth, ctx)
            reply = route.handler(ctx)
        except ApiError as error:
            reply = error.reply()
        except Exception:  # a crash in the fake must fail the test, not hide as a 500
            self._violation("fake", request, traceback.format_exc(limit=-3))
            reply = Reply(500, error_body("Server Error"))
        if 200 <= reply.status < 300 and not isinstance(reply.body, bytes | None):
            reply.body = self._complete(request, op, reply)
        return reply

    def _complete(self, request: web.Request, op: Any, reply: Reply) -> Any:
        pointer = self.spec.response_schema(op, reply.status, "application/json")
        if self.self_check and not self.spec.documents_status(op, reply.status):
            self._violation("response", request, f"status {reply.status} is not documented")
        if pointer is None:
            return reply.body
        body = self.spec.complete(pointer, reply.body, self.clock())
        if self.self_check:
            for error in self.spec.errors(pointer, body):
                self._violation("response", request, error)
        return body

    def _authenticate(self, auth: Auth, ctx: Ctx) -> None:
        """Check credentials for ``auth`` and resolve the repository; raises ApiError."""
        authorization = ctx.headers.get("authorization")
        ctx.extra["rate_identity"] = "anonymous"
        if auth is Auth.JWT:
            verify_app_jwt(authorization, self.public_key_pem, self.app_id)
            ctx.extra["rate_identity"] = "app"
        value = credentials(authorization)
        if auth is not Auth.JWT and value is not None:
            ctx.token = self.live_token(value)
            if ctx.token is None:
                raise ApiError(401, "Bad credentials")
            ctx.extra["rate_identity"] = ctx.token.value
        if auth is Auth.INSTALLATION and ctx.token is None:
            raise ApiError(401, "Requires authentication")
        if "owner" in ctx.params:
            ctx.repo = self.repos.get(f"{ctx.params['owner']}/{ctx.params['repo']}".lower())
            if ctx.repo is None:
                raise ApiError(404, "Not Found")
            if auth is not Auth.JWT and not (ctx.token and self.token_can_see(ctx.token, ctx.repo)):
                raise ApiError(404, "Not Found")  # GitHub hides what a token cannot see
        self.rate_used[ctx.extra["rate_identity"]] += 1
        ctx.extra["rate_reset"] = self._rate_reset()

    def _rate_reset(self) -> int:
        return (int(self.clock().timestamp()) // 3600 + 1) * 3600

    def _github_headers(self, identity: str) -> dict[str, str]:
        used = self.rate_used[identity]
        return {
            "X-GitHub-Request-Id": f"{secrets.token_hex(4).upper()}:{secrets.token_hex(6).upper()}",
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Remaining": str(max(RATE_LIMIT - used, 0)),
            "X-RateLimit-Reset": str(self._rate_reset()),
            "X-RateLimit-Used": str(used),
            "X-RateLimit-Resource": "core",
        }

    def _identity(self, headers: dict[str, str]) -> str:
        value = credentials(headers.get("authorization"))
        return value if value in self.tokens else "app" if value else "anonymous"

    def _respond(self, request: web.Request, headers: dict[str, str], reply: Reply) -> web.Response:
        out = {**self._github_headers(self._identity(headers)), **reply.headers}
        if reply.body is None:
            return web.Response(status=reply.status, headers=out)
        if isinstance(reply.body, bytes):
            return web.Response(status=reply.status, body=reply.body, headers=out)
        data = json.dumps(reply.body).encode()
        if request.method == "GET" and reply.status == 200:
            out["ETag"] = f'W/"{hashlib.sha256(data).hexdigest()}"'
            wanted = {
                tag.strip().removeprefix("W/")
                for tag in headers.get("if-none-match", "").split(",")
            }
            if out["ETag"].removeprefix("W/") in wanted:
                return web.Response(status=304, headers=out)
        out["Content-Type"] = "application/json; charset=utf-8"
        return web.Response(status=reply.status, body=data, headers=out)

    async def _fault(
        self, request: web.Request, headers: dict[str, str], fault: Fault
    ) -> web.StreamResponse:
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)  # simulated latency, not synchronisation
        if fault.reset_connection and request.transport is not None:
            request.transport.abort()  # the client sees the connection drop mid-request
            return web.Response(status=fault.status)
        body = fault.body if fault.body is not None else error_body(HTTPStatus(fault.status).phrase)
        headers = {
            **self._github_headers(self._identity(headers)),
            **(fault.headers or {}),
            "Content-Type": "application/json; charset=utf-8",
        }
        return web.Response(status=fault.status, body=json.dumps(body).encode(), headers=headers)
