"""What intake keeps of a ``workflow_run`` body reads back as the same facts.

The handler and a restart's replay see only the projection by ``RUN_SHAPE``
(issue 15: writing GitHub's whole 15-25 KB body was most of what intake cost).
So for GitHub's own payloads, and for payloads bent every way a generator can
bend them, the facts read from the projection must equal the facts read from
the whole body, a malformed body must stay malformed the same way, and reading
through simdjson must give what reading the whole body with ``json`` gives.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.intake.body import Body, project, projector
from app.intake.events import replay_shapes
from app.intake.payloads import ENVELOPE_SHAPE, RUN_SHAPE, Envelope, RunFacts
from tests.support import shared_dir

WEBHOOKS = shared_dir() / "github" / "webhooks"
RUN_PAYLOADS = sorted((WEBHOOKS / "workflow_run").glob("*.json"))
ALL_PAYLOADS = sorted(WEBHOOKS.glob("*/*.json"))


def with_installation(path: Path) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(path.read_text())
    payload.setdefault("installation", {"id": 4242, "node_id": "I_x"})
    return payload


def same_reading(payload: Any) -> None:
    """The projection reads as the whole payload does, in every way intake reads it."""
    kept = project(payload, RUN_SHAPE)
    assert RunFacts.from_payload(kept) == RunFacts.from_payload(payload)
    assert Envelope.check("workflow_run", "d-1", kept) == Envelope.check(
        "workflow_run", "d-1", payload
    )
    head = project(payload, ENVELOPE_SHAPE)
    assert Envelope.check("workflow_run", "d-1", head) == Envelope.check(
        "workflow_run", "d-1", payload
    )
    # What is stored and replayed is the projection as JSON: the same once more.
    assert RunFacts.from_payload(orjson.loads(orjson.dumps(kept))) == RunFacts.from_payload(payload)


@pytest.mark.parametrize("path", RUN_PAYLOADS, ids=lambda p: p.stem)
def test_githubs_workflow_run_payloads_read_the_same_from_what_is_kept(path: Path) -> None:
    payload = with_installation(path)
    same_reading(payload)
    facts = RunFacts.from_payload(project(payload, RUN_SHAPE))
    assert facts is not None and facts.run_id == payload["workflow_run"]["id"]


@pytest.mark.parametrize("path", RUN_PAYLOADS, ids=lambda p: p.stem)
def test_what_is_kept_of_a_workflow_run_is_a_small_part_of_it(path: Path) -> None:
    raw = orjson.dumps(with_installation(path))
    kept = orjson.dumps(project(orjson.loads(raw), RUN_SHAPE))
    assert len(kept) < 1500 < len(raw)


def test_workflow_run_is_the_event_kept_by_its_shape() -> None:
    assert replay_shapes == {"workflow_run": RUN_SHAPE}


# Values a generator puts where the payload had something else.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (object keys and list indexes)."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def bend(payload: Any, path: tuple[Any, ...], replacement: Any, delete: bool) -> Any:
    bent = copy.deepcopy(payload)
    parent = bent
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return bent


BASES = [with_installation(p) for p in RUN_PAYLOADS]
for base in BASES:  # a pull_request run with an attached pull request, as GitHub sends it
    base["workflow_run"]["event"] = "pull_request"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_bent_payload_reads_the_same_from_what_is_kept(data: st.DataObject) -> None:
    payload = data.draw(st.sampled_from(BASES))
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(paths(payload)))
        payload = bend(payload, where, data.draw(JSON_VALUES), data.draw(st.booleans()))
    same_reading(payload)


@pytest.mark.parametrize("path", ALL_PAYLOADS, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_simdjson_reads_githubs_payloads_as_json_does(path: Path) -> None:
    raw = path.read_bytes()
    body = Body.parse(raw)
    assert isinstance(body, Body)
    assert body.whole() == json.loads(raw)
    for shape in (ENVELOPE_SHAPE, RUN_SHAPE):
        assert body.project(projector(shape)) == project(json.loads(raw), shape)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (b'{"a": "\xff"}', "not valid JSON"),
        (b'{"a": 1} trailing', "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"a": 1e999999}', "not valid JSON"),
        (b'{"a": 123456789012345678901234567890}', "not valid JSON"),
    ],
    ids=["deep", "utf8", "trailing", "empty", "huge-float", "huge-int"],
)
def test_a_body_that_is_not_json_says_why(raw: bytes, reason: str) -> None:
    problem = Body.parse(raw)
    assert isinstance(problem, str) and reason in problem
