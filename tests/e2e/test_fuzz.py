"""Property tests of the four places where outside input enters the app.

The webhook endpoint (anyone on the internet can post to it), the log pipeline
(job logs are whatever a build printed), the tarball extractor (a repository
archive can be built to attack it) and the repository config (a file anyone with
push access writes).  Each must refuse bad input with its own error, never crash
or, for the extractor, write outside its root.  Examples are bounded so the file
runs in seconds; speed on huge inputs is the benchmarks' business, not asserted.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.client
import io
import json
import os
import socket
import sqlite3
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.config.model import RepoConfig
from app.config.schema import SCHEMA, Section, load_yaml, parse_repo_config
from app.core.errors import ConfigError, UnsafeArchive
from app.diagnosis.classify import JobLog, classify
from app.diagnosis.logparse import LogReader
from app.fix.workspace import Workspace
from app.server import CONTEXT, Overrides, build_app
from tests.fakes.github import FakeGitHub, OpenAPI
from tests.harness import WEBHOOK_SECRET, make_settings, no_sleep

FUZZ = settings(max_examples=100, deadline=None)
# The live app is shared by the examples of a test: that is the point (state must not leak).
SHARED_APP = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# ------------------------------------------------------------------------ webhook


@dataclass
class LiveApp:
    """The real app on a loopback port, served from its own event-loop thread.

    Hypothesis drives synchronous examples, so the app and the fake GitHub run in
    a background loop and each example is a real HTTP request.
    """

    port: int
    store_path: Path
    fake: FakeGitHub
    loop: asyncio.AbstractEventLoop
    app: web.Application

    def post(self, headers: dict[str, str], body: bytes) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("POST", "/webhook", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    def deliveries(self) -> int:
        with sqlite3.connect(self.store_path) as db:
            return int(db.execute("SELECT count(*) FROM deliveries").fetchone()[0])


@pytest.fixture(scope="module")
def live_app(
    tmp_path_factory: pytest.TempPathFactory, openapi_spec: OpenAPI, app_private_key: str
) -> Iterator[LiveApp]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fuzz-app", daemon=True)
    thread.start()
    fake = FakeGitHub(private_key_pem=app_private_key, spec=openapi_spec)
    runner: web.AppRunner | None = None
    try:
        asyncio.run_coroutine_threadsafe(fake.start(), loop).result(timeout=30)
        settings_ = make_settings(fake, tmp_path_factory.mktemp("fuzz-app"))
        app = build_app(
            settings_, Overrides(clock=lambda: fake.clock().timestamp(), sleeper=no_sleep)
        )
        runner = web.AppRunner(app, access_log=None)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))

        async def serve() -> None:
            assert runner is not None
            await runner.setup()
            await web.SockSite(runner, sock).start()

        asyncio.run_coroutine_threadsafe(serve(), loop).result(timeout=30)
        yield LiveApp(sock.getsockname()[1], settings_.store_path, fake, loop, app)
    finally:
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80
)  # what http.client can put on the wire
events = st.sampled_from(["workflow_run", "issue_comment", "installation", "ping", "push", ""])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
bodies = st.one_of(
    st.binary(max_size=2000),
    json_values.map(lambda v: yaml.safe_dump(v).encode()),
    st.builds(
        lambda action, extra: json.dumps({"action": action, **extra}).encode(),
        st.sampled_from(["completed", "created", "deleted", "requested"]) | json_values,
        st.dictionaries(
            st.sampled_from(["repository", "installation", "workflow_run", "sender", "comment"]),
            json_values,
            max_size=3,
        ),
    ),
    # Nested past any parser's recursion limit, signed all the same.
    st.integers(1, 200_000).map(
        lambda depth: b'{"action": "completed", "a": ' + b"[" * depth + b"]" * depth + b"}"
    ),
)
# What http.client puts on the wire as is: bytes 0x80-0xFF are not valid UTF-8 alone.
latin1_header = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60)


@st.composite
def bad_signatures(draw: st.DrawFn, body: bytes) -> str | None:
    """Anything but the right signature for ``body``."""
    right = sign(body)
    choice = draw(
        st.one_of(
            st.none(),
            header_text,
            st.just(sign(body, "not-the-secret")),
            st.just(sign(body + b" ")),
            st.just(right.replace("sha256=", "sha1=")),
            st.just(right.upper()),
            st.just(right[:-1]),
        )
    )
    return None if choice == right else choice


@st.composite
def unsigned_deliveries(draw: st.DrawFn) -> tuple[dict[str, str], bytes]:
    body = draw(bodies)
    headers = {
        "X-GitHub-Event": draw(events),
        "X-GitHub-Delivery": draw(header_text),
        "Content-Type": draw(st.sampled_from(["application/json", "text/plain", ""])),
    }
    signature = draw(bad_signatures(body))
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    extra = draw(st.dictionaries(st.sampled_from(["X-Hub-Signature", "User-Agent", "X-Other"]),
                                 header_text, max_size=2))  # fmt: skip
    return {**extra, **headers}, body


@SHARED_APP
@given(delivery=unsigned_deliveries())
def test_nothing_without_a_valid_signature_is_recorded_or_acted_on(
    live_app: LiveApp, delivery: tuple[dict[str, str], bytes]
) -> None:
    headers, body = delivery
    deliveries_before = live_app.deliveries()
    requests_before = len(live_app.fake.requests)

    status = live_app.post(headers, body)

    assert 400 <= status < 500, status
    assert live_app.deliveries() == deliveries_before
    assert len(live_app.fake.requests) == requests_before


@SHARED_APP
@given(
    body=bodies,
    event_name=events | latin1_header,
    delivery_id=st.just("") | latin1_header,
    content_type=st.sampled_from(["application/json", "text/plain"]),
)
def test_signed_deliveries_of_any_shape_never_get_a_5xx(
    live_app: LiveApp, body: bytes, event_name: str, delivery_id: str, content_type: str
) -> None:
    headers = {
        "X-GitHub-Event": event_name,
        "X-GitHub-Delivery": delivery_id + os.urandom(8).hex(),
        "Content-Type": content_type,
        "X-Hub-Signature-256": sign(body),
    }
    status = live_app.post(headers, body)
    event(f"HTTP {status}")
    assert status < 500, status


def test_every_signed_delivery_accepted_by_the_fuzzing_ended(live_app: LiveApp) -> None:
    """Nothing accepted is left unfinished (none would be replayed at every start)."""
    for body in (b'{"action": "completed", "repository": [1, "a", null]}', b'{"zen": "hi"}'):
        headers = {
            "X-GitHub-Event": "workflow_run",
            "X-GitHub-Delivery": os.urandom(8).hex(),
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(body),
        }
        assert live_app.post(headers, body) < 500
    dispatcher = live_app.app[CONTEXT].dispatcher
    asyncio.run_coroutine_threadsafe(dispatcher.drain(), live_app.loop).result(timeout=60)
    with sqlite3.connect(live_app.store_path) as db:
        outcomes = [row[0] for row in db.execute("SELECT outcome FROM deliveries")]
    assert outcomes and None not in outcomes


# -------------------------------------------------------------------- log pipeline

log_lines = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"##[group]Run pytest",
            b"##[endgroup]",
            b"##[error]Process completed with exit code 1.",
            b"2024-05-01T10:00:01.0000000Z FAILED tests/test_x.py::test_y - assert 1 == 2",
            b"\x1b[31mE   AssertionError\x1b[0m",
            b"error[E0308]: mismatched types",
            b"\xff\xfe\xfd invalid utf-8 \xc3\x28",
            b"\r\r\n",
            b"",
        ]
    ),
    st.integers(4000, 300_000).map(lambda n: b"x" * n),  # lines longer than the line limit
)


@FUZZ
@given(
    lines=st.lists(log_lines, max_size=40),
    chunk=st.integers(1, 70_000),
    tail=st.sampled_from([4096, 64 * 1024]),
)
def test_the_log_pipeline_takes_any_bytes_in_any_chunks(
    lines: list[bytes], chunk: int, tail: int
) -> None:
    data = b"\n".join(lines)
    reader = LogReader(tail_bytes=tail)
    for start in range(0, len(data), chunk):
        reader.feed(data[start : start + chunk])
    parsed = reader.finish()

    diagnosis = classify([JobLog(job_name="test", parsed=parsed, failed_steps=("Run pytest",))])
    assert 0.0 <= diagnosis.confidence <= 1.0
    assert diagnosis.to_dict()["category"]


# ---------------------------------------------------------------- tarball extractor

TOP = "acme-widgets-0123abc"
ESCAPE_MARK = "fuzz-escape-mark"
components = st.sampled_from(
    ["a", "b", "..", ".", "", ".git", ESCAPE_MARK, "x" * 300, "dir with space", "ünï"]
)


@dataclass(frozen=True)
class Member:
    name: str
    kind: bytes
    size: int = 0
    link: str = ""


@st.composite
def member_names(draw: st.DrawFn, sandbox: str) -> str:
    parts = draw(st.lists(components, min_size=0, max_size=4))
    prefix = draw(st.sampled_from([f"{TOP}/", f"{TOP}/", "", "/", f"{sandbox}/", "other/"]))
    return prefix + "/".join(parts)


@st.composite
def archives(draw: st.DrawFn, sandbox: str) -> list[Member]:
    kinds = st.sampled_from(
        [tarfile.REGTYPE, tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
         tarfile.FIFOTYPE, tarfile.CHRTYPE]
    )  # fmt: skip
    links = st.one_of(member_names(sandbox), st.sampled_from([sandbox, "..", "../..", "a", "."]))
    members = [Member(f"{TOP}/", tarfile.DIRTYPE)] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(0, 8))):
        members.append(
            Member(
                name=draw(member_names(sandbox)),
                kind=draw(kinds),
                size=draw(st.integers(0, 64)),
                link=draw(links),
            )
        )
    return members


def build_tar(members: list[Member], compress: bool) -> bytes:
    out = io.BytesIO()
    with tarfile.open(
        fileobj=out, mode="w:gz" if compress else "w", format=tarfile.PAX_FORMAT
    ) as tar:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type = member.kind
            info.mode = 0o755
            if member.kind == tarfile.REGTYPE:
                info.size = member.size
                tar.addfile(info, io.BytesIO(b"z" * member.size))
            else:
                info.linkname = member.link
                tar.addfile(info)
    return out.getvalue()


def inside(root: Path, path: Path) -> bool:
    resolved = os.path.realpath(path)
    real_root = os.path.realpath(root)
    return resolved == real_root or resolved.startswith(real_root + os.sep)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory hostile archives aim at: it must stay empty."""
    return tmp_path_factory.mktemp("extract-sandbox")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), compress=st.booleans())
def test_a_hostile_archive_is_refused_or_extracted_inside_the_root(
    sandbox: Path, data: st.DataObject, compress: bool
) -> None:
    members = data.draw(archives(str(sandbox).lstrip("/")))
    tar = build_tar(members, compress)
    if data.draw(st.booleans()):  # cut short, as a dropped download would leave it
        tar = tar[: data.draw(st.integers(0, len(tar)))]
    # Extraction happens in a fresh directory under the temp dir: a '..' would land here.
    temp_root = Path(tempfile.gettempdir())
    marks_before = set(temp_root.glob(f"{ESCAPE_MARK}*"))

    try:
        workspace = asyncio.run(Workspace.from_tarball(tar))
    except UnsafeArchive:
        workspace = None
    event("refused" if workspace is None else "extracted")

    assert list(sandbox.iterdir()) == []
    if workspace is not None:
        with workspace:
            for dirpath, dirnames, filenames in os.walk(workspace.path):
                for name in dirnames + filenames:
                    path = Path(dirpath) / name
                    if path.is_symlink():
                        assert inside(workspace.path, path), path
            assert not (workspace.path / ".git" / "hooks" / ESCAPE_MARK).exists()
    assert set(temp_root.glob(f"{ESCAPE_MARK}*")) <= marks_before


# --------------------------------------------------------------------- config


def config_values(spec: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values shaped like ``spec`` most of the time, and anything YAML can hold otherwise."""
    anything = json_values | st.floats() | st.dates() | st.binary(max_size=10)
    if isinstance(spec, Section) and depth < 3:
        known = st.fixed_dictionaries(
            {},
            optional={key: config_values(sub, depth + 1) for key, sub in spec.fields.items()},
        )
        unknown = st.dictionaries(st.text(max_size=12) | st.integers(), anything, max_size=2)
        return st.one_of(st.builds(lambda k, u: {**u, **k}, known, unknown), known, anything)
    return anything


@FUZZ
@given(raw=config_values(SCHEMA), allow_command=st.booleans())
def test_any_yaml_structure_is_a_config_or_a_config_error(raw: Any, allow_command: bool) -> None:
    try:
        config = parse_repo_config(raw, source="fuzz.yml", allow_fixer_command=allow_command)
    except ConfigError as exc:
        assert exc.problems
        assert str(exc)
        event("ConfigError")
    else:
        assert isinstance(config, RepoConfig)
        event("RepoConfig")


@FUZZ
@given(text=st.text(max_size=300) | config_values(SCHEMA).map(yaml.safe_dump))
def test_any_text_is_a_config_or_a_config_error(text: str) -> None:
    try:
        config = parse_repo_config(load_yaml(text, source="fuzz.yml"), source="fuzz.yml")
    except ConfigError as exc:
        assert exc.problems
    else:
        assert isinstance(config, RepoConfig)
