"""The portal's routes: server-rendered pages (Jinja2) over the deployment's public records,
and the resident's own "my data" pages.

Threat model: public pages read only public data (the insight from DP releases, sensor
aggregates, quarantine evidence, public flags, DP releases and the witnessed ledger) and never
a post, a subject or the vault. "My data" is reached only through a session opened with the
resident's access key; its pages are ``no-store``; every form that changes state (sign-in,
sign-out, erasure) checks a CSRF token and, when the browser sends one, the ``Origin``. Every
page works without JavaScript, loads only this server's own assets under a CSP without
``unsafe-inline``, and answers errors as pages, never tracebacks. No page or feed builds an
address from the request's Host header (anyone can set it, and a shared cache or a pasted
command would carry theirs): absolute addresses come from ``server.public_url`` only.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ombud import __version__
from ombud.api.bodies import parse_form
from ombud.api.problems import status_of
from ombud.clock import format_time
from ombud.deployment import Deployment
from ombud.districts import DISTRICT_PATTERN as _DISTRICT
from ombud.errors import (
    ConfigError,
    ForbiddenError,
    MalformedError,
    NotFoundError,
    OmbudError,
    UnauthorizedError,
)
from ombud.governance.book import RosterRecord
from ombud.governance.tenders import OCID
from ombud.insight.published import PublishedInsight
from ombud.insight.report import SERVICE_PATTERN as _SERVICE
from ombud.insight.report import WEEK_PATTERN as _WEEK
from ombud.ledger.logdir import LOG_VKEY
from ombud.web import charts, feeds, views
from ombud.web.explorer import Explorer, key_fingerprint, material
from ombud.web.sessions import CsrfGuard, SessionBook, new_token

__all__ = ["MAP_FILE", "PORTAL_POLICY", "create_router"]

PORTAL_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
"""The portal's CSP: this server's scripts, styles and images only, no inline code (the
charts are inline SVG without style attributes), forms posted back here only."""
MAP_FILE = "districts.geojson"
PLACEHOLDER_URL = "https://YOUR-CITY.example"
"""What the verify page's command shows for the server's address when ``server.public_url`` is
unset, for the reader to replace."""
"""The city's districts (GeoJSON, RFC 7946) in the data directory, for the map."""
SESSION_COOKIE = "ombud_session"
CSRF_COOKIE = "ombud_csrf"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
_STATIC = {
    "portal.css": "text/css; charset=utf-8",
    "verify.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
_KIND = r"^[a-z_]{1,32}\.[a-z_]{1,32}$|^\(not an ombud event\)$"
_MAX_MAP = 4 << 20
_NONE = "\u2013"  # an en dash where a figure is missing
NAV = (
    ("/", "Overview"),
    ("/sensors", "Sensors"),
    ("/voice", "Voice"),
    ("/privacy", "Privacy"),
    ("/ledger", "Ledger"),
    ("/oversight", "Oversight"),
    ("/business", "Public business"),
    ("/me", "My data"),
    ("/verify", "How to verify"),
)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("ombud.web", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["signed"] = lambda v: _NONE if v is None else f"{v:+.2f}"
    env.filters["num"] = lambda v, d=1: _NONE if v is None else f"{v:,.{d}f}"
    env.filters["when"] = lambda v: _NONE if v is None else format_time(v)
    env.filters["label"] = lambda v: str(v).replace("_", " ")
    return env


def _load_map(data_dir: Path) -> dict[str, Any] | None:
    """The city's district map, validated, or None when the deployment has none."""
    from ombud.citysim.geography import load_city

    path = data_dir / MAP_FILE
    if not path.is_file():
        return None
    data = path.read_bytes()
    if len(data) > _MAX_MAP:
        raise ConfigError(f"{path} is larger than {_MAX_MAP} bytes")
    load_city(data, str(path))  # ids, polygons and positions checked
    geojson: dict[str, Any] = json.loads(data)
    return geojson


class _Charts:
    """Rendered SVG per (checkpoint size, chart), the newest 64 kept."""

    def __init__(self) -> None:
        self._svg: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], spec: Callable[[], dict[str, Any]]) -> str:
        with self._lock:
            if key in self._svg:
                self._svg.move_to_end(key)
                return self._svg[key]
        svg = charts.render_svg(spec())
        with self._lock:
            self._svg[key] = svg
            while len(self._svg) > 64:
                self._svg.popitem(last=False)
        return svg


def create_router(
    deployment: Deployment, insight: PublishedInsight, *, clock: Callable[[], datetime]
) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    env = _environment()
    explorer = Explorer(
        deployment.log,
        (deployment.data_dir / LOG_VKEY).read_text(encoding="ascii").strip(),
        deployment.settings.witnesses,
    )
    sessions = SessionBook(clock)
    csrf = CsrfGuard(os.urandom(32))
    city_map = _load_map(deployment.data_dir)
    names = views.DistrictNames(
        {str(f["id"]): str(f["properties"].get("name", f["id"])) for f in city_map["features"]}
        if city_map is not None
        else {}
    )
    rendered = _Charts()
    public = deployment.settings.server.public_base()  # never the request's Host header
    trust = explorer.trust()  # the keys pages show and check against: fixed while serving
    trusted: dict[str, Any] = {
        "trust": trust,
        "log_key": key_fingerprint(trust.log_vkey),
        "witness_keys": [key_fingerprint(v) for v in trust.witness_vkeys],
    }

    def page(path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """A page route: GET and HEAD."""
        return router.api_route(path, methods=["GET", "HEAD"], response_class=HTMLResponse)

    gaps_at: dict[int, list[dict[str, Any]]] = {}
    gaps_lock = threading.Lock()

    # --- rendering -----------------------------------------------------------------------------

    def render(
        request: Request,
        template: str,
        *,
        status: int = 200,
        private: bool = False,
        **context: Any,
    ) -> HTMLResponse:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        fresh = private and not _TOKEN.fullmatch(cookie)  # forms are on private pages only
        if fresh:
            cookie = new_token()
        html = env.get_template(template).render(
            nav=NAV,
            here=request.url.path,
            csrf=csrf.token(cookie) if private else "",
            version=__version__,
            names=names,
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        response.headers["Content-Security-Policy"] = PORTAL_POLICY
        response.headers["Cache-Control"] = "no-store" if private else "no-cache"
        if fresh:
            _cookie(request, response, CSRF_COOKIE, cookie)
        return response

    def failure(request: Request, exc: OmbudError, *, private: bool = False) -> HTMLResponse:
        status, title = status_of(exc)
        detail = str(exc) if status < 500 else "the server could not complete the request"
        return render(
            request, "error.html", status=status, private=private, title=title, detail=detail
        )

    def report() -> dict[str, Any] | None:
        try:
            return insight.report()
        except NotFoundError:
            return None

    def computed_at(found: dict[str, Any] | None) -> int:
        """The checkpoint size ``found`` was computed at: charts and coverage are cached under
        it, so they change with the report they are drawn from (at most once a minute), not
        with every checkpoint."""
        return 0 if found is None else int(found["checkpoint"]["size"])

    # --- public pages --------------------------------------------------------------------------

    @page("/")
    def overview(
        request: Request,
        service: Annotated[str | None, Query(pattern=_SERVICE)] = None,
        week: Annotated[str | None, Query(pattern=_WEEK)] = None,
    ) -> Response:
        found = report()
        if found is None:
            return render(request, "overview.html", title="Overview", report=None)
        offered = views.services(found)
        if week is not None and week not in found["periods"]:  # not another week's figures
            periods = found["periods"]
            covered = f" (the report covers {periods[0]} to {periods[-1]})" if periods else ""
            return failure(request, NotFoundError(f"no figures for week {week}{covered}"))
        if service is not None and service not in offered:
            return failure(request, NotFoundError(f"no figures for service {service}"))
        period = week or views.latest_period(found)
        chosen = service or views.default_service(found, period)
        map_svg = trend_svg = None
        if city_map is not None and chosen is not None and period is not None:
            values = views.satisfaction_by_district(found, chosen, period)
            map_svg = rendered.get(
                (computed_at(found), "map", chosen, period),
                lambda: charts.satisfaction_map_spec(city_map, values, names.names, chosen, period),
            )
        if chosen is not None:
            points = views.trend_points(found, series="district", service=chosen, names=names)
            if points:
                trend_svg = rendered.get(
                    (computed_at(found), "trend-service", chosen),
                    lambda: charts.trend_spec(
                        points, f"Satisfaction with {chosen.replace('_', ' ')} per district"
                    ),
                )
        return render(
            request,
            "overview.html",
            title="Overview",
            report=found,
            services=offered,
            service=chosen,
            period=period,
            map_svg=map_svg,
            trend_svg=trend_svg,
            cells=[c for c in views.cell_table(found, service=chosen) if c["period"] == period],
            has_map=city_map is not None,
        )

    @page("/district/{district}")
    def district_page(request: Request, district: str) -> Response:
        found = report()
        if not re.fullmatch(_DISTRICT, district) or found is None:
            return failure(request, NotFoundError(f"no figures for district {district[:64]!r}"))
        if district not in views.districts(found):
            return failure(request, NotFoundError(f"no figures for district {district!r}"))
        points = views.trend_points(found, series="service", district=district)
        trend_svg = noise_svg = None
        if points:
            trend_svg = rendered.get(
                (computed_at(found), "trend-district", district),
                lambda: charts.trend_spec(points, f"{names(district)}: satisfaction per service"),
            )
        noise = views.noise_rows(found, district, names)
        if noise:
            noise_svg = rendered.get(
                (computed_at(found), "noise", district),
                lambda: charts.noise_spec(noise, f"{names(district)}: noise per week"),
            )
        return render(
            request,
            "district.html",
            title=names(district),
            district=district,
            report=found,
            scorecard=found["scorecards"].get(district, []),
            cells=views.cell_table(found, district=district),
            weeks=views.district_sensors(found, district),
            changes=[c for c in found["changes"] if c["district"] == district],
            trend_svg=trend_svg,
            noise_svg=noise_svg,
        )

    @page("/sensors")
    def sensors_page(request: Request) -> Response:
        devices = [d.to_json() for d in deployment.registry.list()]
        per_district: dict[str, dict[str, int]] = {}
        for d in devices:
            counts = per_district.setdefault(d["district"], {})
            counts[d["type"]] = counts.get(d["type"], 0) + 1
        held = [q.to_json() for q in deployment.quarantine.list(limit=200)]
        held_devices = [d.to_json() for d in deployment.quarantine.devices(limit=200)]
        found = report()
        size = computed_at(found)
        with gaps_lock:  # one computation per report: it reads every device's readings
            if size not in gaps_at:
                gaps_at.clear()
                gaps_at[size] = _coverage_gaps(deployment, found, devices)
            gaps = gaps_at[size]
        noise_svg = None
        if found is not None:
            noise = views.noise_rows(found, None, names)
            if noise:
                noise_svg = rendered.get(
                    (computed_at(found), "noise-all"),
                    lambda: charts.noise_spec(noise, "Noise per district and week"),
                )
        return render(
            request,
            "sensors.html",
            title="Sensors",
            per_district=dict(sorted(per_district.items())),
            device_count=len(devices),
            held=held,
            held_by_check=views.quarantine_by_check(held),
            held_devices=held_devices,
            gaps=gaps,
            report=found,
            noise_svg=noise_svg,
        )

    @page("/voice")
    def voice_page(request: Request) -> Response:
        flags = [f.to_json() for f in deployment.flags.list(limit=200)]
        by_check: dict[str, dict[str, Any]] = {}
        for f in flags:
            entry = by_check.setdefault(f["check"], {"meaning": f["meaning"], "count": 0})
            entry["count"] += 1
        return render(
            request,
            "voice.html",
            title="Voice",
            flags=flags,
            by_check=dict(sorted(by_check.items())),
            services=_services(),
        )

    @page("/privacy")
    def privacy_page(request: Request) -> Response:
        try:
            office = deployment.privacy()
        except OmbudError as exc:
            return failure(request, exc)
        releases = [r.to_json() for r in office.releases.list(None, 500)]
        return render(
            request,
            "privacy.html",
            title="Privacy",
            releases=releases,
            budget=office.releases.budget(),
            settings=deployment.settings.privacy,
        )

    @page("/ledger")
    def ledger_page(
        request: Request,
        kind: Annotated[str | None, Query(pattern=_KIND)] = None,
        before: Annotated[int | None, Query(ge=1, le=(1 << 63) - 1)] = None,
    ) -> Response:
        published = deployment.log.published_checkpoint()
        if published is None:
            return failure(request, NotFoundError("the log has not published a checkpoint yet"))
        kinds, first, last, counted = explorer.kinds()
        page = explorer.page(kind=kind, before=before)
        return render(
            request,
            "ledger.html",
            title="Ledger",
            note=published.note.decode("utf-8"),
            size=published.size,
            cosignatures=_cosignatures(published.note, trust.witness_vkeys),
            **trusted,
            kinds=kinds,
            counted=counted,
            first=first,
            last=last,
            kind=kind,
            page=page,
        )

    @page("/ledger/{index}")
    def event_page(request: Request, index: str) -> Response:
        if not re.fullmatch(r"[0-9]{1,19}", index):  # ASCII digits: "²".isdigit() is True
            return failure(request, MalformedError("an entry index is a non-negative integer"))
        try:
            row, data = explorer.entry(int(index))
        except OmbudError as exc:
            return failure(request, exc)
        return render(
            request,
            "event.html",
            title=f"Ledger entry {row.index}",
            row=row,
            pretty=json.dumps(row.event.to_json(), indent=2, ensure_ascii=False)
            if row.event is not None
            else data.hex(),
            material=json.dumps(material(row, data, trust)).replace("<", "\\u003c"),
            **trusted,
        )

    @page("/oversight")
    def oversight_page(request: Request) -> Response:
        """Who holds power and what they did with it: the roster, the latest privileged
        actions with their signers, the refused attempts; who asked for residents' data, on
        what basis, what was decided and read (it names no subject; sealed requests count as
        sealed)."""
        found = deployment.access.report()
        try:
            roster: RosterRecord | None = deployment.roster.current()
        except NotFoundError:
            roster = None
        return render(
            request,
            "oversight.html",
            title="Oversight",
            report=found,
            roster=roster,
            actions=deployment.actions.all(limit=50),
            refusals=deployment.actions.refusals(),
        )

    @page("/business")
    def business_page(request: Request) -> Response:
        """Tenders, decisions and results: the public business nobody can quietly rewrite."""
        results = [{"result": r, "history": history} for r, history in deployment.results.tracked()]
        return render(
            request,
            "tenders.html",
            title="Public business",
            tenders=deployment.tenders.all(),
            decisions=deployment.decisions.all(),
            results=results,
        )

    @page("/business/tenders/{ocid}")
    def tender_page(request: Request, ocid: str) -> Response:
        try:
            if not OCID.fullmatch(ocid):
                raise NotFoundError(f"no tender {ocid[:80]!r}")
            record = deployment.tenders.get(ocid)
        except NotFoundError as exc:
            return failure(request, exc)
        return render(
            request,
            "tender.html",
            title=record.tender.title,
            record=record,
            bids=deployment.tenders.bids(ocid),
        )

    @page("/business/decisions/{motion_id}")
    def decision_page(request: Request, motion_id: str) -> Response:
        try:
            if not re.fullmatch(_DISTRICT, motion_id):
                raise NotFoundError(f"no motion {motion_id[:64]!r}")
            record = deployment.decisions.get(motion_id)
        except NotFoundError as exc:
            return failure(request, exc)
        return render(
            request,
            "decision.html",
            title=record.motion.title,
            record=record,
            votes=deployment.decisions.votes(motion_id),
        )

    @router.api_route("/feeds/{kind}/{name}.atom", methods=["GET", "HEAD"])
    def feed(request: Request, kind: str, name: str) -> Response:
        """A district's decisions and results, or an office's results and votes, newest first
        (Atom), for residents to subscribe to."""
        if kind not in ("districts", "offices") or not re.fullmatch(_DISTRICT, name):
            return failure(request, NotFoundError("feeds are /feeds/districts|offices/NAME.atom"))
        entries = feeds.entries(deployment, kind, name)
        body = feeds.atom(
            f"{kind[:-1]} {name}",
            f"/feeds/{kind}/{name}.atom",
            entries,
            origin=deployment.log.origin,
            base=public,
        )
        return Response(
            body,
            media_type="application/atom+xml; charset=utf-8",
            headers={"Cache-Control": "no-cache"},  # as the public pages: revalidated each time
        )

    @page("/verify")
    def verify_page(request: Request) -> Response:
        return render(
            request,
            "verify.html",
            title="How to verify",
            **trusted,
            origin=f"{public or PLACEHOLDER_URL}/",
            placeholder=not public,
        )

    @page("/static/{name}")
    def static(name: str) -> Response:
        if name not in _STATIC:
            return Response("not found", status_code=404, media_type="text/plain")
        body = resources.files("ombud.web").joinpath("static", name).read_bytes()
        return Response(
            body, media_type=_STATIC[name], headers={"Cache-Control": "public, max-age=3600"}
        )

    # --- my data -------------------------------------------------------------------------------

    def signed_in(request: Request) -> bytes | None:
        """The vault reference of the signed-in resident; a session whose resident was erased
        by any route (the API's ``DELETE /me/data``, the operator's CLI) ends here."""
        ref = sessions.subject(request.cookies.get(SESSION_COOKIE))
        if ref is None:
            return None
        try:
            erased = deployment.privacy().vault.status(ref) is not None
        except OmbudError:  # no vault (503 on the pages that need it), or no such subject
            return ref
        if erased:
            sessions.close_subject(ref)
            return None
        return ref

    async def form(request: Request) -> dict[str, str]:
        """The posted form, after its CSRF token and origin are checked."""
        origin = request.headers.get("origin")
        if origin is not None and origin != "null":
            # the configured public address when there is one: the Host header is the sender's
            # to choose (a rebound DNS name sends its own host in both headers)
            own = urlsplit(public or str(request.base_url))
            try:
                sent = urlsplit(origin)
            except ValueError:  # "http://[::1" and the like: no origin at all
                raise ForbiddenError("the form's Origin header is not an origin") from None
            # The host alone: behind a proxy that ends TLS the server sees http, the browser
            # sends https (and SameSite=Strict cookies already keep other sites out).
            if sent.netloc != own.netloc:
                raise ForbiddenError("the form was posted from another site")
        fields = parse_form(await request.body())
        values = {k: v[0] for k, v in fields.items() if len(v) == 1}
        csrf.verify(request.cookies.get(CSRF_COOKIE), values.get("csrf"))
        return values

    @page("/me")
    def me_page(request: Request) -> Response:
        ref = signed_in(request)
        if ref is None:
            return render(request, "signin.html", title="My data", private=True, error=None)
        try:
            office = deployment.privacy()
            export = office.export(ref)
            looked = deployment.access.of_subject(ref)
        except OmbudError as exc:
            return failure(request, exc, private=True)
        return render(
            request, "me.html", title="My data", private=True, export=export, looked=looked
        )

    @router.post("/me/sign-in", response_class=HTMLResponse)
    async def sign_in(request: Request) -> Response:
        try:
            values = await form(request)
            key = values.get("key", "").strip()
            if not key.startswith("ombud_resident_") or len(key) > 200:
                raise UnauthorizedError("that is not a resident access key (ombud_resident_…)")
            ref = deployment.privacy().vault.ref_for_access(key)
        except UnauthorizedError as exc:
            return render(
                request, "signin.html", status=401, title="My data", private=True, error=str(exc)
            )
        except OmbudError as exc:
            return failure(request, exc, private=True)
        response = RedirectResponse("/me", status_code=303)
        response.headers["Cache-Control"] = "no-store"
        _cookie(request, response, SESSION_COOKIE, sessions.open(ref))
        return response

    @router.post("/me/sign-out")
    async def sign_out(request: Request) -> Response:
        try:
            await form(request)
        except OmbudError as exc:
            return failure(request, exc, private=True)
        sessions.close(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/me", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @page("/me/export")
    def export_mine(request: Request) -> Response:
        ref = signed_in(request)
        if ref is None:
            return RedirectResponse("/me", status_code=303)
        try:
            body = json.dumps(deployment.privacy().export(ref), indent=2, ensure_ascii=False)
        except OmbudError as exc:
            return failure(request, exc, private=True)
        return Response(
            body,
            media_type="application/json",
            headers={
                "Cache-Control": "no-store",
                "Content-Disposition": 'attachment; filename="ombud-my-data.json"',
            },
        )

    @page("/me/erase")
    def erase_confirm(request: Request) -> Response:
        if signed_in(request) is None:
            return RedirectResponse("/me", status_code=303)
        return render(request, "erase.html", title="Erase my data", private=True, erased=None)

    @router.post("/me/erase", response_class=HTMLResponse)
    async def erase_mine(request: Request) -> Response:
        ref = signed_in(request)
        if ref is None:
            return RedirectResponse("/me", status_code=303)
        try:
            values = await form(request)
            if values.get("confirm") != "erase":
                raise MalformedError("to erase, tick the box that says you understand")
            erasure = deployment.privacy().erase(ref, actor="resident", basis="resident-request")
        except OmbudError as exc:
            return failure(request, exc, private=True)
        sessions.close_subject(ref)
        response = render(
            request, "erase.html", title="Erase my data", private=True, erased=erasure
        )
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return router


def _cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def _services() -> list[dict[str, str]]:
    from ombud.voice.open311 import service_list

    return [{"code": s["service_code"], "name": s["service_name"]} for s in service_list()]


def _cosignatures(note: bytes, witness_vkeys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Who signed the published checkpoint, as the note says (verified by the log before it
    published; the browser checks it again on each event's page)."""
    from ombud.ledger import note as signed_note
    from ombud.ledger.cosignature import decode_timestamped_signature

    parsed = signed_note.parse(note)
    known = {v.split("+", 1)[0] for v in witness_vkeys}
    out = []
    for sig in parsed.signatures:
        entry: dict[str, Any] = {"name": sig.name, "witness": sig.name in known, "time": None}
        if sig.name in known and len(sig.signature) == 72:
            timestamp, _ = decode_timestamped_signature(sig.signature)
            entry["time"] = format_time(datetime.fromtimestamp(timestamp, UTC))
        out.append(entry)
    return out


def _coverage_gaps(
    deployment: Deployment, found: dict[str, Any] | None, devices: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Devices with gaps in the weeks the insight covers (at most 200 devices read)."""
    from ombud.clock import week_window
    from ombud.sensors.coverage import device_coverage

    if found is None or not found["periods"]:
        return []
    since = week_window(found["periods"][0])[0]
    until = week_window(found["periods"][-1])[1]
    out = []
    for device in devices[:200]:
        coverage = device_coverage(deployment.db, device["id"], since, until)
        if coverage.gaps:
            missing = sum(g.missing for g in coverage.gaps)
            out.append(
                {
                    "device": device["id"],
                    "district": device["district"],
                    "gaps": len(coverage.gaps),
                    "missing": missing,
                    "longest": max(g.end - g.start for g in coverage.gaps),
                }
            )
    return out
