"""How route modules declare handlers, and the context a handler receives.

Handlers are keyed by the OpenAPI path template, so the description decides which
operation a request is and the route table only says what the fake does about it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from .http import Reply, paginate
from .models import AccessToken, Repo

if TYPE_CHECKING:
    from .state import GitHubState


class Auth(Enum):
    """What credentials an operation needs."""

    JWT = "jwt"  # the app itself: a JWT signed with its private key
    INSTALLATION = "installation"  # an installation token that can see the repository
    NONE = "none"


@dataclass
class Ctx:
    """One request, already checked against the description and authenticated."""

    state: GitHubState
    method: str
    path: str
    params: dict[str, Any]
    query: dict[str, Any]
    raw_query: dict[str, str]
    body: Any
    headers: dict[str, str]
    repo: Repo | None = None
    token: AccessToken | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def the_repo(self) -> Repo:
        assert self.repo is not None, "only repository routes have a repository"
        return self.repo

    def page(self, items: list[Any], status: int = 200) -> Reply:
        chunk, headers = paginate(
            items, self.query, f"{self.state.api_url}{self.path}", self.raw_query
        )
        return Reply(status, chunk, headers)

    def body_dict(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}


Handler = Callable[[Ctx], Reply]


@dataclass(frozen=True)
class Route:
    handler: Handler
    auth: Auth


class RouteTable:
    """Collects ``(METHOD, template) -> Route`` for one area of the API."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {}

    def add(
        self, method: str, template: str, auth: Auth = Auth.INSTALLATION
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            key = (method.upper(), template)
            if key in self.routes:
                raise ValueError(f"{method} {template} is registered twice")
            self.routes[key] = Route(handler, auth)
            return handler

        return register
