"""``GET /dashboard``: what an operator checks in the morning, server-rendered from the store.

Fix rate per week, time to green, spend against the daily limit per
installation, open loops with links to their pull requests and issues,
repositories the app has paused (circuit breaker, invalid config) and recent
escalations.  Everything is read from the store, so every web instance shows
the same numbers and a restart loses none.  The page is plain HTML with
inline CSS and inline SVG charts: no script, nothing fetched from elsewhere
(the Content-Security-Policy says so to the browser too).

Access needs ``STATUS_TOKEN``: a person signs in once with a form (an
HttpOnly, SameSite=Strict cookie holding a value derived from the token, never
the token itself); a script sends ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from aiohttp import web

from app.config.model import BudgetConfig
from app.loop.breaker import breaker_blocks
from app.loop.budget import utc_day_start
from app.settings import Settings
from app.store.base import Store
from app.store.records import ConfigPause, Loop, LoopState

COOKIE = "cifix_dashboard"
SESSION_S = 12 * 3600
WEEKS = 8
LOOPS_READ = 5000
ESCALATIONS_SHOWN = 10
ENDED_COUNTED = frozenset(
    {LoopState.SUCCEEDED, LoopState.FLAKY, LoopState.EXHAUSTED, LoopState.ESCALATED}
)
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class DashboardServices(Protocol):
    """What the page needs from the running app."""

    @property
    def store(self) -> Store: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def clock(self) -> Callable[[], float]: ...


@dataclass(frozen=True)
class Week:
    start: datetime
    ended: int
    fixed: int
    median_minutes_to_green: float | None

    @property
    def fix_rate(self) -> float | None:
        return self.fixed / self.ended if self.ended else None


@dataclass(frozen=True)
class InstallationSpend:
    installation_id: int
    account: str
    today_usd: float
    week_usd: float
    daily_limit_usd: float


@dataclass(frozen=True)
class Dashboard:
    """The numbers on the page, computed from the store (tests compare them with it)."""

    weeks: list[Week]
    fix_rate: float | None
    median_minutes_to_green: float | None
    spend: list[InstallationSpend]
    open_loops: list[Loop]
    paused_by_breaker: list[tuple[str, float]]
    paused_by_config: list[ConfigPause]
    escalations: list[Loop]
    generated_at: float = field(default_factory=time.time)


def week_start(moment: float) -> datetime:
    """Monday 00:00 UTC of the week ``moment`` falls in."""
    day = datetime.fromtimestamp(utc_day_start(moment), UTC)
    return day - timedelta(days=day.weekday())


async def collect(store: Store, settings: Settings, now: float) -> Dashboard:
    loops = await store.recent_loops(LOOPS_READ)
    this_week = week_start(now)
    starts = [this_week - timedelta(weeks=n) for n in range(WEEKS - 1, -1, -1)]
    by_week: dict[datetime, list[Loop]] = {start: [] for start in starts}
    for loop in loops:
        if loop.state in ENDED_COUNTED and loop.ended_at is not None:
            start = week_start(loop.ended_at)
            if start in by_week:
                by_week[start].append(loop)
    weeks = [_week(start, by_week[start]) for start in starts]
    counted = [loop for week in by_week.values() for loop in week]
    day = utc_day_start(now)
    limit = settings.global_daily_budget_usd or BudgetConfig().per_day_usd
    spend = [
        InstallationSpend(
            installation_id=installation_id,
            account=account,
            today_usd=await store.spend_since(day, installation_id=installation_id),
            week_usd=await store.spend_since(day - 6 * 86400, installation_id=installation_id),
            daily_limit_usd=limit,
        )
        for installation_id, account, _suspended in await store.installations()
    ]
    breakers = [
        (b.repo, b.open_until or now)
        for b in await store.breakers()
        if breaker_blocks(b, now) is not None
    ]
    escalations = [
        loop for loop in loops if loop.state in (LoopState.ESCALATED, LoopState.EXHAUSTED)
    ][:ESCALATIONS_SHOWN]
    return Dashboard(
        weeks=weeks,
        fix_rate=_rate(counted),
        median_minutes_to_green=_median_minutes(counted),
        spend=spend,
        open_loops=await store.active_loops(),
        paused_by_breaker=breakers,
        paused_by_config=await store.config_pauses(),
        escalations=escalations,
        generated_at=now,
    )


def _week(start: datetime, loops: list[Loop]) -> Week:
    fixed = sum(1 for loop in loops if loop.state.successful)
    return Week(start, len(loops), fixed, _median_minutes(loops))


def _rate(loops: Sequence[Loop]) -> float | None:
    return sum(1 for loop in loops if loop.state.successful) / len(loops) if loops else None


def _median_minutes(loops: Sequence[Loop]) -> float | None:
    """Median minutes from the failing run's loop opening to green CI, of the fixed loops."""
    times = [
        (loop.ended_at - loop.created_at) / 60
        for loop in loops
        if loop.state is LoopState.SUCCEEDED and loop.ended_at is not None
    ]
    return statistics.median(times) if times else None


# ---------------------------------------------------------------- rendering


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _repo_url(loop: Loop, path: str) -> str:
    """A page of the loop's repository, built on the run's own ``html_url``."""
    return f"{loop.run_url.split('/actions/runs/', 1)[0]}/{path}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f} %"


def _minutes(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} min" if value < 120 else f"{value / 60:.1f} h"


def _bars(
    title: str, labels: list[str], values: list[float | None], top: float, unit: str, test_id: str
) -> str:
    """An inline SVG bar chart; a missing value is a gap labelled with a dash."""
    width, height, pad = 560, 180, 28
    slot = (width - pad) / max(len(values), 1)
    parts = [
        f'<svg role="img" aria-label="{_e(title)}" data-chart="{test_id}" viewBox="0 0 '
        f'{width} {height + 40}" width="100%" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{pad}" y1="{height}" x2="{width}" y2="{height}" stroke="#8c959f"/>',
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = pad + i * slot + slot * 0.15
        text = "—" if value is None else f"{value:.0f}{unit}"
        if value is not None and top > 0:
            bar = max(1.0, (height - 20) * value / top)
            parts.append(
                f'<rect x="{x:.1f}" y="{height - bar:.1f}" width="{slot * 0.7:.1f}" '
                f'height="{bar:.1f}" fill="#1f883d" data-value="{value:.4f}"/>'
            )
            y = height - bar - 4
        else:
            y = height - 4
        parts += [
            f'<text x="{x + slot * 0.35:.1f}" y="{y:.1f}" text-anchor="middle" '
            f'font-size="12">{_e(text)}</text>',
            f'<text x="{x + slot * 0.35:.1f}" y="{height + 16}" text-anchor="middle" '
            f'font-size="11" fill="#57606a">{_e(label)}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)


def _spend_rows(spend: list[InstallationSpend]) -> str:
    if not spend:
        return "<p class='empty'>No installation yet.</p>"
    rows = []
    for item in spend:
        share = min(item.today_usd / item.daily_limit_usd, 1.0) if item.daily_limit_usd else 0
        colour = "#cf222e" if share >= 0.9 else "#bf8700" if share >= 0.6 else "#1f883d"
        rows.append(
            f"<tr data-installation='{item.installation_id}'><td>{_e(item.account)}</td>"
            f"<td class='num' data-today='{item.today_usd:.4f}'>${item.today_usd:.2f}</td>"
            f"<td><svg viewBox='0 0 200 14' width='200' height='14' role='img' "
            f"aria-label='{share * 100:.0f} % of the daily limit'>"
            f"<rect width='200' height='14' fill='#eaeef2'/>"
            f"<rect width='{200 * share:.1f}' height='14' fill='{colour}'/></svg> "
            f"of ${item.daily_limit_usd:.2f}</td>"
            f"<td class='num'>${item.week_usd:.2f}</td></tr>"
        )
    return (
        "<table><thead><tr><th>Installation</th><th>Spent today</th><th>Daily limit</th>"
        "<th>Last 7 days</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _loop_links(loop: Loop) -> str:
    links = [f"<a href='{_e(loop.run_url)}'>run {loop.run_id}</a>"]
    if loop.pr_number:
        links.append(
            f"<a href='{_e(_repo_url(loop, f'pull/{loop.pr_number}'))}'>PR #{loop.pr_number}</a>"
        )
    if loop.issue_number:
        issue = _repo_url(loop, f"issues/{loop.issue_number}")
        links.append(f"<a href='{_e(issue)}'>issue #{loop.issue_number}</a>")
    return " · ".join(links)


def _open_loops(loops: list[Loop]) -> str:
    if not loops:
        return "<p class='empty'>No loop is running.</p>"
    rows = "".join(
        f"<tr data-loop='{loop.id}'><td>{_e(loop.repo)}</td><td>{_e(loop.branch)}</td>"
        f"<td><span class='state'>{_e(loop.state.value)}</span></td>"
        f"<td class='num'>{loop.iteration - loop.iteration_base}</td>"
        f"<td class='num'>${loop.cost_usd:.2f}</td><td>{_loop_links(loop)}</td></tr>"
        for loop in loops
    )
    return (
        "<table><thead><tr><th>Repository</th><th>Branch</th><th>State</th><th>Iteration</th>"
        "<th>Spent</th><th>Links</th></tr></thead><tbody>" + rows + "</tbody></table>"
    )


def _paused(data: Dashboard) -> str:
    items = [
        f"<li data-paused='breaker'><strong>{_e(repo)}</strong>: circuit breaker open until "
        f"{datetime.fromtimestamp(until, UTC):%Y-%m-%d %H:%M} UTC (the last loops ended "
        "without a fix)</li>"
        for repo, until in data.paused_by_breaker
    ] + [
        f"<li data-paused='config'><strong>{_e(pause.repo)}</strong>: "
        f"<code>{_e(pause.source or '.github/ci-fix-loop.yml')}</code> is invalid "
        f"({len(pause.problems)} problem(s)): "
        f"<code>{_e(pause.problems[0] if pause.problems else '')}</code></li>"
        for pause in data.paused_by_config
    ]
    if not items:
        return "<p class='empty'>No repository is paused.</p>"
    return "<ul>" + "".join(items) + "</ul>"


def _escalations(loops: list[Loop]) -> str:
    if not loops:
        return "<p class='empty'>No escalation.</p>"
    rows = "".join(
        f"<tr data-escalation='{loop.id}'><td>{_e(loop.repo)}</td>"
        f"<td>{datetime.fromtimestamp(loop.ended_at or loop.updated_at, UTC):%Y-%m-%d %H:%M}</td>"
        f"<td>{_e((loop.reason or '').splitlines()[0][:160] if loop.reason else '')}</td>"
        f"<td>{_loop_links(loop)}</td></tr>"
        for loop in loops
    )
    return (
        "<table><thead><tr><th>Repository</th><th>When (UTC)</th><th>Why</th><th>Links</th>"
        "</tr></thead><tbody>" + rows + "</tbody></table>"
    )


STYLE = """
body{font:14px/1.5 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:0;color:#1f2328;
background:#f6f8fa}main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:16px;margin:16px 0}
h2{font-size:16px;margin:0 0 12px}.tiles{display:flex;gap:16px;flex-wrap:wrap}
.tile{flex:1;min-width:180px}.tile .big{font-size:28px;font-weight:600}.muted{color:#57606a}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;
border-bottom:1px solid #eaeef2;vertical-align:top}td.num{text-align:right}
.state{background:#ddf4ff;border-radius:10px;padding:0 8px}.empty{color:#57606a}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px}
@media(max-width:800px){.grid{display:block}}
form.inline{float:right}button{font:inherit;padding:4px 12px;border:1px solid #d0d7de;
border-radius:6px;background:#f6f8fa;cursor:pointer}input{font:inherit;padding:6px;width:100%;
box-sizing:border-box;border:1px solid #d0d7de;border-radius:6px}.bad{color:#cf222e}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body><main>{body}</main>"
        "</body></html>"
    )


def render(data: Dashboard) -> str:
    labels = [f"{week.start:%b %d}" for week in data.weeks]
    rates = [None if w.fix_rate is None else w.fix_rate * 100 for w in data.weeks]
    greens = [w.median_minutes_to_green for w in data.weeks]
    ended = sum(w.ended for w in data.weeks)
    rate_chart = _bars("Fix rate per week", labels, rates, 100, "%", "fix-rate")
    top = max([g for g in greens if g] or [1.0])
    green_chart = _bars(
        "Median minutes to green per week", labels, greens, top, "", "time-to-green"
    )
    body = f"""
<form class="inline" method="post" action="/dashboard/logout"><button>Sign out</button></form>
<h1>ci-fix-loop</h1>
<p class="muted">As of {datetime.fromtimestamp(data.generated_at, UTC):%Y-%m-%d %H:%M} UTC,
from the store; the last {WEEKS} weeks.</p>
<section><div class="tiles">
<div class="tile"><div class="muted">Fix rate</div>
<div class="big" id="fix-rate">{_pct(data.fix_rate)}</div>
<div class="muted">of {ended} loops that ended (succeeded or flaky, against exhausted or
escalated; stopped and superseded loops are not counted)</div></div>
<div class="tile"><div class="muted">Median time to green</div>
<div class="big" id="time-to-green">{_minutes(data.median_minutes_to_green)}</div>
<div class="muted">from the failing run to green CI on the fix</div></div>
<div class="tile"><div class="muted">Open loops</div>
<div class="big" id="open-count">{len(data.open_loops)}</div></div>
<div class="tile"><div class="muted">Paused repositories</div>
<div class="big" id="paused-count">{len(data.paused_by_breaker) + len(data.paused_by_config)}
</div></div>
</div></section>
<div class="grid">
<section><h2>Fix rate per week (%)</h2>{rate_chart}</section>
<section><h2>Median time to green per week (minutes)</h2>{green_chart}</section></div>
<section id="spend"><h2>Spend against the daily limit, per installation</h2>
{_spend_rows(data.spend)}</section>
<section id="open"><h2>Open loops</h2>{_open_loops(data.open_loops)}</section>
<section id="paused"><h2>Paused repositories</h2>{_paused(data)}</section>
<section id="escalations"><h2>Recent escalations</h2>{_escalations(data.escalations)}</section>
"""
    return _page("ci-fix-loop dashboard", body)


def login_page(message: str = "", *, enabled: bool = True) -> str:
    if not enabled:
        body = (
            "<h1>ci-fix-loop</h1><section><p>The dashboard is off: set <code>STATUS_TOKEN</code>"
            " for the app and restart it, then sign in here with that token.</p></section>"
        )
        return _page("ci-fix-loop dashboard", body)
    note = f"<p class='bad' id='login-error'>{_e(message)}</p>" if message else ""
    body = f"""<h1>ci-fix-loop</h1><section style="max-width:420px">
<h2>Sign in</h2>{note}
<form method="post" action="/dashboard/login">
<p><label for="token">Status token (<code>STATUS_TOKEN</code>)</label>
<input id="token" name="token" type="password" autocomplete="current-password" required></p>
<p><button id="sign-in" type="submit">Sign in</button></p></form></section>"""
    return _page("Sign in · ci-fix-loop", body)


# ---------------------------------------------------------------- access


def session_value(token: str, issued: int) -> str:
    """``issued.mac``: proves the holder signed in with the token, without holding it."""
    mac = hmac.new(token.encode(), f"dashboard:{issued}".encode(), hashlib.sha256).hexdigest()
    return f"{issued}.{mac}"


def _session_ok(cookie: str, token: str, now: float) -> bool:
    issued, _, _mac = cookie.partition(".")
    if not issued.isdigit() or not 0 <= now - int(issued) <= SESSION_S:
        return False
    return hmac.compare_digest(cookie, session_value(token, int(issued)))


def _bearer_ok(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return (
        scheme.lower() == "bearer"
        and bool(given)
        and hmac.compare_digest(given.encode(), token.encode())
    )


def _html(text: str, status: int = 200) -> web.Response:
    response = web.Response(text=text, status=status, content_type="text/html")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def add_routes(app: web.Application, services: Callable[[web.Request], DashboardServices]) -> None:
    """``GET /dashboard``, ``POST /dashboard/login``, ``POST /dashboard/logout``."""

    async def dashboard(request: web.Request) -> web.Response:
        ctx = services(request)
        token = ctx.settings.status_token
        if not token:
            return _html(login_page(enabled=False), status=403)
        now = ctx.clock()
        if not (
            _bearer_ok(request, token) or _session_ok(request.cookies.get(COOKIE, ""), token, now)
        ):
            return _html(login_page(), status=401)
        return _html(render(await collect(ctx.store, ctx.settings, now)))

    async def login(request: web.Request) -> web.StreamResponse:
        ctx = services(request)
        token = ctx.settings.status_token
        if not token:
            return _html(login_page(enabled=False), status=403)
        form = await request.post()
        given = form.get("token")
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), token.encode()):
            return _html(login_page("That is not the status token."), status=401)
        response = web.Response(status=303, headers={"Location": "/dashboard"})
        response.set_cookie(
            COOKIE,
            session_value(token, int(ctx.clock())),
            max_age=SESSION_S,
            path="/dashboard",
            httponly=True,
            samesite="Strict",
            secure=request.secure,
        )
        return response

    async def logout(request: web.Request) -> web.StreamResponse:
        response = web.Response(status=303, headers={"Location": "/dashboard"})
        response.del_cookie(COOKIE, path="/dashboard")
        return response

    app.router.add_get("/dashboard", dashboard)
    app.router.add_post("/dashboard/login", login)
    app.router.add_post("/dashboard/logout", logout)
