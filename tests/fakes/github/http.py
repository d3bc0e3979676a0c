"""What handlers return and raise, and GitHub's conventions for errors and pagination."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

DOCS_URL = "https://docs.github.com/rest"


@dataclass
class Reply:
    """A handler's answer; ``body`` None means no body (204, 302, 304)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def error_body(message: str, errors: list[Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message, "documentation_url": DOCS_URL}
    if errors:
        body["errors"] = errors
    return body


class ApiError(Exception):
    """Raised by handlers to answer with GitHub's JSON error body."""

    def __init__(self, status: int, message: str, errors: list[Any] | None = None):
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.errors = errors

    def reply(self) -> Reply:
        return Reply(self.status, error_body(self.message, self.errors))


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def validation_failed(resource: str, code: str, **detail: Any) -> ApiError:
    """422 in the shape GitHub uses for semantic errors (``errors: [{resource, code, ...}]``)."""
    return ApiError(422, "Validation Failed", [{"resource": resource, "code": code, **detail}])


def paginate(
    items: list[Any], query: dict[str, Any], base_url: str, raw_query: dict[str, str]
) -> tuple[list[Any], dict[str, str]]:
    """One page of ``items`` and a ``Link`` header like GitHub's (prev, next, last, first).

    ``per_page`` is capped at 100 silently, as GitHub does.
    """
    per_page = max(1, min(int(query.get("per_page") or 30), 100))
    page = max(1, int(query.get("page") or 1))
    last = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page : page * per_page]

    def link(number: int, rel: str) -> str:
        params = {**raw_query, "per_page": str(per_page), "page": str(number)}
        return f'<{base_url}?{urlencode(params)}>; rel="{rel}"'

    links = []
    if page > 1:
        links.append(link(min(page - 1, last), "prev"))
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links.append(link(1, "first"))
    return chunk, ({"Link": ", ".join(links)} if links else {})
