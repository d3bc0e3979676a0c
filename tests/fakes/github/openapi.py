"""GitHub's OpenAPI description as the fake's rule book.

Every request the fake receives is matched to an operation and checked (path and query
parameters, JSON body) here, and every JSON body it answers with is completed and checked
against the documented response schema. Keeping this in one place means the fake cannot
quietly accept a request GitHub would refuse, nor answer with a shape GitHub never sends.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

BASE_URI = "urn:github-openapi"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
# Path parameters that GitHub lets contain slashes (file paths, branch names, "a...b"),
# besides those the description marks ``x-multi-segment``.
GREEDY_PARAMS = frozenset({"path", "ref", "basehead"})


class _Missing:
    """Marks an absent value, distinct from JSON ``null``."""

    def __repr__(self) -> str:
        return "MISSING"

    def __deepcopy__(self, memo: dict[int, Any]) -> _Missing:
        return self


MISSING: Any = _Missing()


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


@dataclass(frozen=True)
class Operation:
    """One method on one documented path template."""

    method: str
    template: str
    pointer: str
    regex: re.Pattern[str]
    literal_chars: int


@dataclass(frozen=True)
class Match:
    operation: Operation
    raw_params: dict[str, str]


@dataclass(frozen=True)
class RequestCheck:
    """The outcome of checking a request: problems, and the typed parameters when it passed."""

    path_problems: list[str]
    problems: list[str]
    path_params: dict[str, Any]
    query: dict[str, Any]


class OpenAPI:
    """Loaded description with cached validators; safe to share between fakes (read-only)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = _normalise(document)
        self._registry: Registry = Registry().with_resource(
            BASE_URI, Resource.from_contents(self.document, default_specification=DRAFT4)
        )
        self._validators: dict[str, OAS30Validator] = {}
        self.operations = list(self._operations())

    @classmethod
    def load(cls, path: Path) -> OpenAPI:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    # -- navigation --------------------------------------------------------------------

    def node(self, pointer: str) -> Any:
        node: Any = self.document
        for token in pointer.lstrip("/").split("/") if pointer.strip("/") else []:
            token = _unescape(token)
            node = node[int(token)] if isinstance(node, list) else node[token]
        return node

    def resolve(self, pointer: str) -> tuple[Any, str]:
        """Follow ``$ref`` chains; returns the node and its own pointer."""
        node = self.node(pointer)
        while isinstance(node, dict) and "$ref" in node:
            pointer = node["$ref"].removeprefix("#")
            node = self.node(pointer)
        return node, pointer

    def validator(self, pointer: str) -> OAS30Validator:
        validator = self._validators.get(pointer)
        if validator is None:
            schema = {"$ref": f"{BASE_URI}#{pointer}"}
            validator = OAS30Validator(schema, registry=self._registry)
            self._validators[pointer] = validator
        return validator

    def errors(self, pointer: str, instance: Any) -> list[str]:
        found = sorted(self.validator(pointer).iter_errors(instance), key=lambda e: e.path)
        return [
            f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message[:300]}"
            for error in found[:5]
        ]

    def _operations(self) -> Iterable[Operation]:
        for template, item in self.document["paths"].items():
            for method in HTTP_METHODS:
                if method not in item:
                    continue
                greedy = GREEDY_PARAMS | self._multi_segment(item[method])

                def group(m: re.Match[str], greedy: frozenset[str] = greedy) -> str:
                    return f"(?P<{m[1]}>{'.+' if m[1] in greedy else '[^/]+'})"

                pattern = re.sub(
                    r"\{(\w+)\}",
                    group,
                    re.escape(template).replace(r"\{", "{").replace(r"\}", "}"),
                )
                yield Operation(
                    method=method.upper(),
                    template=template,
                    pointer=f"/paths/{_escape(template)}/{method}",
                    regex=re.compile(f"^{pattern}$"),
                    literal_chars=len(re.sub(r"\{\w+\}", "", template)),
                )

    def _multi_segment(self, operation: dict[str, Any]) -> frozenset[str]:
        """Path parameters the description marks ``x-multi-segment`` (``branches/{branch}``)."""
        names = set()
        for raw in operation.get("parameters", []):
            param = self.node(raw["$ref"].removeprefix("#")) if "$ref" in raw else raw
            if param.get("in") == "path" and param.get("x-multi-segment"):
                names.add(param["name"])
        return frozenset(names)

    # -- requests ----------------------------------------------------------------------

    def match(self, method: str, raw_path: str) -> Match | None:
        """The most specific operation for ``method`` and the still-encoded path, if any."""
        best: Match | None = None
        for op in self.operations:
            if op.method != method.upper():
                continue
            found = op.regex.match(raw_path)
            if found and (best is None or op.literal_chars > best.operation.literal_chars):
                best = Match(op, {k: unquote(v) for k, v in found.groupdict().items()})
        return best

    def _parameters(self, op: Operation) -> list[dict[str, Any]]:
        params = []
        for index, _ in enumerate(self.node(op.pointer).get("parameters", [])):
            param, pointer = self.resolve(f"{op.pointer}/parameters/{index}")
            params.append({**param, "_schema": f"{pointer}/schema"})
        return params

    def check_request(self, match: Match, query: dict[str, list[str]], body: Any) -> RequestCheck:
        """Check parameters and body; ``body`` is ``MISSING`` when the request had none."""
        op = match.operation
        path_problems: list[str] = []
        problems: list[str] = []
        path_params: dict[str, Any] = {}
        typed_query: dict[str, Any] = {}
        declared = self._parameters(op)
        for param in declared:
            name, where = param["name"], param["in"]
            if where == "path":
                value, problem = self._typed(param["_schema"], match.raw_params[name])
                if problem:
                    path_problems.append(f"path parameter {name!r}: {problem}")
                path_params[name] = value
            elif where == "query":
                values = query.get(name)
                if not values:
                    if param.get("required"):
                        problems.append(f"missing required query parameter {name!r}")
                    default = self.resolve(param["_schema"])[0].get("default", MISSING)
                    if default is not MISSING:
                        typed_query[name] = default
                    continue
                value, problem = self._typed(param["_schema"], values[-1])
                if problem:
                    problems.append(f"query parameter {name!r}: {problem}")
                typed_query[name] = value
        known = {p["name"] for p in declared if p["in"] == "query"}
        problems.extend(
            f"query parameter {name!r} is not documented for {op.method} {op.template}"
            for name in sorted(set(query) - known)
        )
        problems.extend(self._check_body(op, body))
        return RequestCheck(path_problems, problems, path_params, typed_query)

    def _typed(self, schema_pointer: str, raw: str) -> tuple[Any, str | None]:
        """Convert a parameter string to the schema's type, then validate it."""
        schema, pointer = self.resolve(schema_pointer)
        kinds = [schema.get("type")] + [
            self.resolve(f"{pointer}/oneOf/{i}")[0].get("type")
            for i in range(len(schema.get("oneOf", [])))
        ]
        value: Any = raw
        if "integer" in kinds and re.fullmatch(r"-?\d+", raw):
            value = int(raw)
        elif "boolean" in kinds and raw in ("true", "false"):
            value = raw == "true"
        errors = self.errors(pointer, value)
        return value, (f"{raw!r} is invalid ({'; '.join(errors)})" if errors else None)

    def _check_body(self, op: Operation, body: Any) -> list[str]:
        spec = self.node(op.pointer).get("requestBody")
        if spec is None:
            # GitHub ignores an empty object on body-less operations (gidgethub sends one).
            if body in (MISSING, None, {}):
                return []
            return [f"{op.method} {op.template} takes no request body"]
        if body is MISSING:
            return ["missing required JSON body"] if spec.get("required") else []
        pointer = f"{op.pointer}/requestBody/content/application~1json/schema"
        return [f"request body {error}" for error in self.errors(pointer, body)]

    # -- responses ---------------------------------------------------------------------

    def response_schema(self, op: Operation, status: int, content_type: str) -> str | None:
        """Pointer to the documented schema for this status, or None if undocumented/empty."""
        responses = self.node(op.pointer)["responses"]
        key = str(status) if str(status) in responses else "default"
        if key not in responses:
            return None
        response, pointer = self.resolve(f"{op.pointer}/responses/{key}")
        content = response.get("content", {})
        media = content_type if content_type in content else "application/json"
        if media not in content or "schema" not in content[media]:
            return None
        return f"{pointer}/content/{_escape(media)}/schema"

    def documents_status(self, op: Operation, status: int) -> bool:
        return str(status) in self.node(op.pointer)["responses"]

    def complete(self, pointer: str, value: Any, now: datetime) -> Any:
        """Add every required field the handler left out, with a neutral value of the right type.

        Handlers set the fields that carry meaning; the long tail of required URL and count
        fields is filled here so every body stays schema-complete without hand-written noise.
        """
        return _Completer(self, now).fill(pointer, copy.deepcopy(value))


def _normalise(node: Any) -> Any:
    """Adjust GitHub's description where a strict OAS 3.0 validator disagrees with GitHub.

    - ``nullable`` with ``enum``: strict OAS 3.0.3 says ``nullable`` does not extend the enum,
      but GitHub sends ``"conclusion": null`` for an in-progress job; add ``null``.
    - ``nullable`` with ``oneOf``/``anyOf``/``allOf``: ``null`` matches no branch, yet GitHub
      sends ``"author": null`` on a commit; accept ``null`` beside the branches.
    - ``discriminator``: the contents endpoint maps ``"array"`` (a directory listing) through
      a discriminator no validator can read from an array; ``oneOf`` alone decides correctly.
    """
    if isinstance(node, list):
        return [_normalise(value) for value in node]
    if not isinstance(node, dict):
        return node
    node = {key: _normalise(value) for key, value in node.items() if key != "discriminator"}
    if node.get("nullable") and "enum" in node and None not in node["enum"]:
        node["enum"] = [*node["enum"], None]
    combinator = next((k for k in ("oneOf", "anyOf", "allOf") if k in node), None)
    if node.get("nullable") and combinator:
        branches = {combinator: node.pop(combinator)}
        node["anyOf"] = [{"nullable": True, "enum": [None]}, branches]
    return node


class _Completer:
    def __init__(self, spec: OpenAPI, now: datetime) -> None:
        self.spec = spec
        self.now = now.strftime("%Y-%m-%dT%H:%M:%SZ")

    def fill(self, pointer: str, value: Any) -> Any:
        schema, pointer = self.spec.resolve(pointer)
        for index in range(len(schema.get("allOf", []))):
            value = self.fill(f"{pointer}/allOf/{index}", {} if value is MISSING else value)
        for key in ("oneOf", "anyOf"):
            if key in schema:
                return self._choose(f"{pointer}/{key}", len(schema[key]), value)
        if value is MISSING:
            return self._default(schema, pointer)
        if isinstance(value, dict) and ("properties" in schema or schema.get("type") == "object"):
            required = set(schema.get("required", []))
            for name in schema.get("properties", {}):
                child = f"{pointer}/properties/{_escape(name)}"
                if name in value:
                    value[name] = self.fill(child, value[name])
                elif name in required:
                    value[name] = self.fill(child, MISSING)
        elif isinstance(value, list) and "items" in schema:
            value = [self.fill(f"{pointer}/items", item) for item in value]
        return value

    def _choose(self, pointer: str, count: int, value: Any) -> Any:
        if value is MISSING:
            return self.fill(f"{pointer}/0", MISSING)
        for index in range(count):
            candidate = self.fill(f"{pointer}/{index}", copy.deepcopy(value))
            if self.spec.validator(f"{pointer}/{index}").is_valid(candidate):
                return candidate
        return value

    def _default(self, schema: dict[str, Any], pointer: str) -> Any:
        if schema.get("nullable"):
            return None
        if "enum" in schema:
            return schema["enum"][0]
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            return self.fill(pointer, {})
        defaults: dict[str | None, Any] = {
            "array": [],
            "integer": 0,
            "number": 0,
            "boolean": False,
        }
        if kind in defaults:
            return copy.copy(defaults[kind])
        if schema.get("format") == "date-time":
            return self.now
        if schema.get("format") == "uri":
            return "https://github.com"
        return ""
