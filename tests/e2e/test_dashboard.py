"""The operator's dashboard in a real browser: it signs in, renders, and shows the store's numbers.

The store is filled with loops over the last weeks (fixed, escalated, running),
spend, an open circuit breaker and an invalid config; the page is read back
from headless Chromium and every number is compared with what the store
holds.  Screenshots are saved in the test's directory (the path is printed).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from app.admin.dashboard import COOKIE
from app.store.records import BreakerState, ConfigPause, LoopState, NewLoop
from tests.browser import chromium, click, navigate, screenshot
from tests.harness import Harness, HarnessFactory

DAY = 86400.0
TOKEN = "status-token-for-tests"


def new_loop(n: int, repo: str = "acme/widgets", installation: int = 9001) -> NewLoop:
    return NewLoop(
        installation_id=installation,
        repo=repo,
        workflow_id=1,
        workflow_name="CI",
        workflow_path=".github/workflows/ci.yml",
        branch="main",
        head_sha=f"{n:040x}",
        run_id=1000 + n,
        run_attempt=1,
        run_url=f"https://github.com/{repo}/actions/runs/{1000 + n}",
    )


async def fill_store(harness: Harness) -> dict[str, object]:
    """Loops over three weeks, spend, a breaker and a config pause; what the page must show."""
    store, now = harness.ctx.store, harness.ctx.clock()
    await store.put_installation(9001, "acme", suspended=False, now=now)
    await store.put_installation(9002, "globex", suspended=False, now=now)
    # (days ago, minutes it took, final state, pr, issue)
    plan = [
        (15, 30, LoopState.SUCCEEDED, 11, None),
        (15, 0, LoopState.ESCALATED, 12, 90),
        (8, 50, LoopState.SUCCEEDED, 13, None),
        (8, 70, LoopState.SUCCEEDED, 14, None),
        (1, 20, LoopState.SUCCEEDED, 15, None),
        (1, 0, LoopState.EXHAUSTED, 16, 91),
        (1, 0, LoopState.CANCELLED, None, None),  # not counted in the fix rate
    ]
    green_minutes = []
    for n, (days, minutes, state, pr, issue) in enumerate(plan, start=1):
        opened = now - days * DAY
        loop, _ = await store.open_loop(new_loop(n), state=LoopState.QUEUED, now=opened)
        ended = opened + max(minutes, 5) * 60
        await store.update_loop(
            loop.id, now=ended, state=state, pr_number=pr, issue_number=issue,
            reason="Exhausted 5 iterations" if issue else None, ended_at=ended,
        )  # fmt: skip
        if state is LoopState.SUCCEEDED:
            green_minutes.append(minutes)
    running, _ = await store.open_loop(new_loop(50), state=LoopState.QUEUED, now=now - 600)
    await store.update_loop(
        running.id, now=now - 300, state=LoopState.AWAITING_CI, iteration=2, pr_number=77
    )
    await store.add_spend(
        installation_id=9001, repo="acme/widgets", loop_id=running.id, amount_usd=7.5, at=now - 60
    )
    await store.add_spend(
        installation_id=9001, repo="acme/widgets", loop_id=running.id, amount_usd=2.0,
        at=now - 3 * DAY,
    )  # fmt: skip
    await store.put_breaker(BreakerState("acme/flaky", 3, now + 1800))
    await store.put_config_pause(
        ConfigPause("globex/site", ('guard.max_files: "ten" is not valid',), None, now)
    )
    return {
        "fix_rate": f"{4 / 6 * 100:.0f} %",
        "time_to_green": f"{statistics.median(green_minutes):.0f} min",
        "open": running.id,
    }


async def test_the_dashboard_signs_in_renders_and_shows_the_stores_numbers(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness = await app_harness(fixer="none")
    expected = await fill_store(harness)
    url = str(harness.client.make_url("/dashboard"))

    async with chromium(tmp_path) as (tools, page):
        await navigate(tools, page, url)
        login = await tools.evaluate(page, "document.querySelector('h2').innerText")
        await tools.evaluate(page, "document.getElementById('token').value = 'wrong'")
        await click(tools, page, "#sign-in")
        await tools.event("Page.loadEventFired")
        refused = await tools.evaluate(page, "document.getElementById('login-error').innerText")
        await tools.evaluate(page, f"document.getElementById('token').value = {json.dumps(TOKEN)}")
        await click(tools, page, "#sign-in")
        await tools.event("Page.loadEventFired")
        shown = await tools.evaluate(
            page,
            """(() => {
              const text = id => document.getElementById(id).innerText.trim();
              const rows = sel => [...document.querySelectorAll(sel)];
              return {
                path: location.pathname, cookie: document.cookie,
                fixRate: text('fix-rate'), timeToGreen: text('time-to-green'),
                open: text('open-count'), paused: text('paused-count'),
                rateBars: rows('svg[data-chart=fix-rate] rect').map(r => +r.dataset.value),
                spend: rows('#spend tr[data-installation]').map(r =>
                  [r.dataset.installation, r.querySelector('[data-today]').dataset.today]),
                openLoops: rows('#open tr[data-loop]').map(r => [r.dataset.loop,
                  [...r.querySelectorAll('a')].map(a => a.href)]),
                pausedKinds: rows('#paused li').map(li => li.dataset.paused),
                escalations: rows('#escalations tr[data-escalation]').map(r =>
                  [...r.querySelectorAll('a')].map(a => a.href)),
                external: rows('[src],link[href]').length,
                svgVisible: document.querySelector('svg').getBoundingClientRect().height > 0,
              };
            })()""",
        )
        shot = tmp_path / "dashboard.png"
        shot.write_bytes(await screenshot(tools, page))
    print(f"dashboard screenshot: {shot}")

    assert login == "Sign in"
    assert refused == "That is not the status token."
    assert shown["path"] == "/dashboard"
    assert COOKIE not in shown["cookie"]  # HttpOnly: scripts cannot read it
    assert shown["fixRate"] == expected["fix_rate"]
    assert shown["timeToGreen"] == expected["time_to_green"]
    assert (shown["open"], shown["paused"]) == ("1", "2")
    # Three weeks had loops end: 1/2, 2/2, 1/2 fixed (the cancelled one is not counted).
    assert sorted(round(v) for v in shown["rateBars"]) == [50, 50, 100]
    assert dict(shown["spend"]) == {"9001": "7.5000", "9002": "0.0000"}
    [(loop_id, links)] = shown["openLoops"]
    assert loop_id == str(expected["open"])
    assert "https://github.com/acme/widgets/pull/77" in links
    assert sorted(shown["pausedKinds"]) == ["breaker", "config"]
    assert [any(link.endswith("/issues/91") for link in row) for row in shown["escalations"]] == [
        True,
        False,
    ]
    assert shown["external"] == 0 and shown["svgVisible"]
    assert shot.read_bytes().startswith(b"\x89PNG")


async def test_scripts_use_the_bearer_token_and_everyone_else_gets_the_sign_in_page(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness(fixer="none")
    anonymous = await harness.client.get("/dashboard")
    assert anonymous.status == 401 and "Sign in" in await anonymous.text()
    assert "default-src 'none'" in anonymous.headers["Content-Security-Policy"]
    scripted = await harness.client.get("/dashboard", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scripted.status == 200 and "Fix rate" in await scripted.text()
    forged = await harness.client.get("/dashboard", cookies={COOKIE: "1.abc"})
    assert forged.status == 401
    login = await harness.client.post(
        "/dashboard/login", data={"token": TOKEN}, allow_redirects=False
    )
    assert login.status == 303
    cookie = login.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    assert TOKEN not in cookie.value


async def test_without_a_status_token_the_dashboard_is_off_and_says_so(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness(fixer="none", status_token=None)
    response = await harness.client.get("/dashboard")
    assert response.status == 403 and "set <code>STATUS_TOKEN</code>" in await response.text()
