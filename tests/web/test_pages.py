"""The portal's pages over the quick demo city, without a browser: every page is served with
its security headers and reads without JavaScript; no public page shows a resident's id or
words; "my data" needs the resident's key, and its forms refuse a request without their CSRF
token and change nothing."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ombud.deployment import Deployment
from ombud.insight import PublishedInsight
from ombud.web import create_portal
from tests.web.conftest import City

PUBLIC = [
    "/", "/sensors", "/voice", "/privacy", "/ledger", "/oversight", "/business", "/verify",
    "/business/tenders/ocds-0mbud0-2026-lighting", "/business/decisions/m-2026-harbour-nights",
]  # fmt: skip


@pytest.fixture(scope="module")
def client(quick_city: City) -> Iterator[TestClient]:
    with (
        Deployment.open(quick_city.data_dir, with_key=False) as deployment,
        TestClient(create_portal(deployment), base_url="http://127.0.0.1") as c,
    ):
        yield c


@pytest.fixture
def own_client(city_copy: City) -> Iterator[TestClient]:
    with (
        Deployment.open(city_copy.data_dir, with_key=False) as deployment,
        TestClient(create_portal(deployment), base_url="http://127.0.0.1") as c,
    ):
        yield c


def public_pages(client: TestClient, data_dir: Path) -> dict[str, str]:
    """Every public page of the demo: each page, the overview for each service and week, each
    district, every kind's event list and each event's page for the first 400 entries."""
    with Deployment.open(data_dir, with_key=False) as deployment:
        report = PublishedInsight(deployment.log, deployment.db).report()
        size = deployment.log.published_checkpoint().size  # type: ignore[union-attr]
    paths = list(PUBLIC)
    services = sorted({c["service"] for c in report["cells"]})
    paths += [f"/?service={s}&week={w}" for s in services for w in report["periods"]]
    paths += [f"/district/{d}" for d in sorted(report["scorecards"])]
    ledger = client.get("/ledger").text
    paths += sorted({html.unescape(k) for k in re.findall(r'<option value="([^"]+)"', ledger)})
    paths = [p if p.startswith("/") else f"/ledger?kind={p}" for p in paths]
    paths += [f"/ledger/{i}" for i in range(0, size, max(1, size // 400))]
    pages = {}
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        pages[path] = html.unescape(response.text)
    return pages


def test_every_page_carries_the_security_headers(client: TestClient) -> None:
    for path in [*PUBLIC, "/district/north", "/ledger/3", "/me", "/static/portal.css"]:
        response = client.get(path)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
        assert "frame-ancestors 'none'" in csp, path
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    assert client.get("/me").headers["cache-control"] == "no-store"


def test_pages_read_without_javascript(client: TestClient) -> None:
    """The figures are in the HTML itself: tables and server-rendered SVG, no script needed."""
    overview = client.get("/").text
    assert "<svg" in overview and "<table>" in overview and "<script" not in overview
    assert re.search(r"[+-]\d\.\d\d <span class=\"muted\">\[", overview)  # a figure, interval
    district = client.get("/district/north").text
    assert "past the guideline" in district  # the noise event in the north, against WHO
    assert "L_den" not in district or "Lden" in district
    event = client.get("/ledger/3").text
    assert "<noscript>" in event and "ombud-proof" in event


def test_the_map_is_a_vega_geoshape_of_the_city(client: TestClient) -> None:
    overview = client.get("/?service=noise").text
    svg = overview[overview.index("<svg") : overview.index("</svg>")]
    assert svg.count('aria-roledescription="geoshape"') >= 3  # one path per district
    assert "style=" not in svg and "<script" not in svg


def test_no_public_page_shows_a_resident(client: TestClient, quick_city: City) -> None:
    """Render every public page of the demo and look for the simulated residents: their ids
    (the identity service's, the vault's subjects and contact details) and their posts' words."""
    with Deployment.open(quick_city.data_dir, with_key=False) as deployment:
        texts = [t for (t,) in deployment.db.read("SELECT text FROM posts") if t]
        units = [u for (u,) in deployment.db.read("SELECT unit FROM posts") if u]
    assert len(texts) > 500
    pages = public_pages(client, quick_city.data_dir)
    assert len(pages) > 100
    words = [t for t in texts if len(t) >= 24]
    for path, page in pages.items():
        for pattern in ("resident-", "demo-subject-", "@residents.example", "ombud_resident_"):
            assert pattern not in page, (path, pattern)
        assert not any(unit in page for unit in units), path
        found = [t for t in words if t in page]
        assert not found, (path, found[:3])


def test_my_data_needs_the_residents_key(client: TestClient, quick_city: City) -> None:
    signin = client.get("/me")
    assert 'name="key"' in signin.text and "ombud_resident_" in signin.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', signin.text)[1]  # type: ignore[index]
    wrong = client.post("/me/sign-in", data={"csrf": csrf, "key": "ombud_resident_" + "x" * 40})
    assert wrong.status_code == 401 and "signin-error" in wrong.text
    no_token = client.post("/me/sign-in", data={"key": quick_city.resident_key})
    assert no_token.status_code == 403 and "CSRF" in no_token.text
    assert "ombud_session" not in no_token.cookies
    foreign = client.post(
        "/me/sign-in",
        data={"csrf": csrf, "key": quick_city.resident_key},
        headers={"Origin": "https://elsewhere.example"},
    )
    assert foreign.status_code == 403 and "another site" in foreign.text
    for broken in ("http://[::1", "http://["):  # once a 500 and a traceback
        odd = client.post(
            "/me/sign-in",
            data={"csrf": csrf, "key": quick_city.resident_key},
            headers={"Origin": broken},
        )
        assert odd.status_code == 403 and "not an origin" in odd.text, broken
    assert client.get("/me/export", follow_redirects=False).status_code == 303


def test_my_data_shows_exports_and_erases(own_client: TestClient, city_copy: City) -> None:
    client = own_client
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/me").text)[1]  # type: ignore[index]
    signed = client.post("/me/sign-in", data={"csrf": csrf, "key": city_copy.resident_key})
    assert signed.status_code == 200 and "Your consents" in signed.text
    # The session cookie: no script reads it, no other site's request carries it, and over
    # plain http (this test) it is not marked Secure, which https would.
    cookies = [c for r in (*signed.history, signed) for c in r.headers.get_list("set-cookie")]
    (session,) = [c for c in cookies if c.startswith("ombud_session=")]
    attributes = {a.strip().lower() for a in session.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= attributes and "secure" not in attributes
    assert city_copy.resident_key not in session
    assert "service-request-follow-up" in signed.text and "@residents.example" in signed.text
    # Who looked: the demo's police request (approved, read; a read beyond it refused) and
    # the tax office's sealed request, shown as sealed with the date it opens.
    assert "port-ombud-police" in signed.text and "warrant PO-2026-4411" in signed.text
    assert "refused (out-of-scope)" in signed.text
    assert "<strong>sealed</strong>" in signed.text and "2027-01-01" in signed.text
    assert "tax" not in signed.text.split("Who looked at your data")[1].split("</section>")[0]
    bearer = {"Authorization": f"Bearer {city_copy.resident_key}"}
    mine = client.get("/me/access", headers=bearer)
    assert mine.status_code == 200 and [a["sealed"] for a in mine.json()] == [False, True]
    assert mine.headers["cache-control"] == "no-store"
    wrong = {"Authorization": "Bearer ombud_resident_" + "x" * 40}
    assert client.get("/me/access", headers=wrong).status_code == 401
    assert signed.headers["cache-control"] == "no-store"
    export = client.get("/me/export")
    assert export.headers["cache-control"] == "no-store"
    assert "attachment" in export.headers["content-disposition"]
    data = export.json()
    assert data["format"] == "ombud-subject-export/1" and data["payloads"][0]["data"]
    # Erasure: a form with the CSRF token and the confirmation, or nothing happens.
    confirm = client.get("/me/erase")
    assert 'name="confirm"' in confirm.text
    unconfirmed = client.post("/me/erase", data={"csrf": csrf})
    assert unconfirmed.status_code == 400
    forged = client.post("/me/erase", data={"confirm": "erase"})
    assert forged.status_code == 403
    assert "@residents.example" in client.get("/me").text  # still there
    erased = client.post("/me/erase", data={"csrf": csrf, "confirm": "erase"})
    assert erased.status_code == 200 and 'id="erased"' in erased.text
    assert 'name="key"' in client.get("/me").text  # signed out: the session ended
    again = client.post("/me/sign-in", data={"csrf": csrf, "key": city_copy.resident_key})
    assert again.status_code == 401  # an erased resident's key opens nothing


def test_an_erasure_through_the_api_ends_the_portal_session(
    own_client: TestClient, city_copy: City
) -> None:
    client = own_client
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/me").text)[1]  # type: ignore[index]
    signed = client.post("/me/sign-in", data={"csrf": csrf, "key": city_copy.resident_key})
    assert "Your consents" in signed.text
    bearer = {"Authorization": f"Bearer {city_copy.resident_key}"}
    assert client.delete("/me/data", headers=bearer).status_code in (200, 202)
    assert 'name="key"' in client.get("/me").text  # signed out, as the portal's own erasure does
    assert client.get("/me/export", follow_redirects=False).status_code == 303


def test_oversight_counts_requests_and_names_no_resident(client: TestClient) -> None:
    page = client.get("/oversight").text
    assert "port-ombud-police" in page and "warrant PO-2026-4411" in page  # the demo's request
    assert "(sealed)" in page and "port-ombud-tax-office" not in page  # the sealed one
    assert "council-hana" in page and "roster.change" in page  # the roster after hand-over
    actions = page.split('id="actions-h"')[1].split('id="requests-h"')[0]
    assert "council-dora" in actions and "access.approve" in actions  # who signed what
    assert "budget.change" in actions and "operator-only" in actions  # the operator, alone
    assert "demo-subject-" not in page


def test_public_business_with_its_history_and_feeds(client: TestClient) -> None:
    page = client.get("/business").text
    assert "Street lighting on the harbour front" in page and "lumen-co" in page
    assert "Quiet nights on the harbour front" in page and "adopted" in page
    assert 'max="100" value="35"' in page  # the result's progress, as the office signed it
    tender = client.get("/business/tenders/ocds-0mbud0-2026-lighting").text
    assert "the reveal does not open its commitment" in tender  # the mismatched bid
    assert "Closed by the first witnessed checkpoint past the deadline" in tender
    assert tender.count('href="/ledger/') >= 6  # each step links to its inclusion check
    decision = client.get("/business/decisions/m-2026-harbour-nights").text
    assert decision.count("<td>yes</td>") == 3 and "<td>no</td>" in decision
    feed = client.get("/feeds/districts/north.atom")
    assert feed.headers["content-type"].startswith("application/atom+xml")
    root = ElementTree.fromstring(feed.content)
    titles = [e.text for e in root.iter("{http://www.w3.org/2005/Atom}title")]
    assert any("Decision: Quiet nights" in (t or "") for t in titles)
    office = client.get("/feeds/offices/public-works.atom", headers={"Host": "evil.example"})
    assert b"in progress, 35%" in office.content
    assert b"evil.example" not in office.content and b'href="/ledger/' in office.content
    assert client.get("/feeds/nowhere/x.atom").status_code == 404
    assert client.get("/business/tenders/ocds-0mbud0-none").status_code == 404
    assert client.get("/business/decisions/Not%20An%20Id").status_code == 404


def test_bad_page_requests_get_pages_not_tracebacks(client: TestClient) -> None:
    for path, status in [
        ("/district/nowhere", 404),
        ("/district/" + "x" * 300, 404),
        ("/ledger/99999999999", 404),
        ("/ledger/-1", 400),
        (
            "/ledger/%C2%B2",
            400,
        ),  # "²": a digit to str.isdigit, not to int() (found by the test below)
        ("/ledger?kind=%3Cscript%3E", 400),
        ("/?service=%3Cscript%3E", 400),
        ("/?week=1999-W01", 404),  # another week's figures would be shown under its name
        ("/?service=potholes", 404),
        ("/static/../pages.py", 404),
    ]:
        response = client.get(path)
        assert response.status_code == status, (path, response.status_code)
        assert "<script>" not in response.text


_ANY = st.text(st.characters(codec="utf-8"), max_size=80)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(["/", "/ledger", "/district/{}", "/ledger/{}", "/me", "/static/{}"]),
    value=_ANY,
    name=st.sampled_from(["service", "week", "kind", "before", "x"]),
)
def test_hostile_page_requests_are_refused_not_crashed(
    client: TestClient, path: str, value: str, name: str
) -> None:
    """Any path segment or query value: an answer below 500, with the security headers."""
    target = path.format(quote(value, safe="")) if "{}" in path else path
    response = client.get(target, params={name: value})
    assert response.status_code < 500, (target, name, value, response.text[:300])
    assert "unsafe-inline" not in response.headers["content-security-policy"]


def test_hostile_forms_are_refused_and_change_nothing(client: TestClient) -> None:
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/me").text)[1]  # type: ignore[index]
    for body, content_type in [
        (
            b"csrf=" + csrf.encode() + b"&key=" + b"a" * 2_000_000,
            "application/x-www-form-urlencoded",
        ),
        (b"\xff\xfe" * 100, "application/x-www-form-urlencoded"),
        (b"&".join(b"f%d=1" % i for i in range(500)), "application/x-www-form-urlencoded"),
        (b'{"key": "x"}', "application/json"),
    ]:
        response = client.post("/me/sign-in", content=body, headers={"content-type": content_type})
        assert 400 <= response.status_code < 500, (body[:40], response.status_code)
        assert "ombud_session" not in response.cookies


def test_public_pages_set_no_cookie_and_answer_head(client: TestClient) -> None:
    client.cookies.clear()
    for path in PUBLIC:
        response = client.get(path)
        assert "set-cookie" not in response.headers, path  # cacheable, nobody's in particular
        assert response.headers["cache-control"] == "no-cache"
        head = client.head(path)
        assert head.status_code == 200 and head.content == b"", path
    assert "ombud_csrf" in client.get("/me").headers["set-cookie"]


def test_no_feed_or_verify_page_carries_the_requests_host(tmp_path: Path) -> None:
    """The security review: feeds and the verify page's command were built from the Host
    header, so anyone could have a shared cache keep, or a reader paste, their own host. They
    now use ``server.public_url``, or relative links and a placeholder when it is unset."""
    from ombud.deployment import init_deployment

    init_deployment(tmp_path / "city", "pages.example/log")
    evil = {"Host": "evil.example"}
    feeds = ("/feeds/districts/north.atom", "/feeds/offices/public-works.atom")
    for environ, address in (
        ({}, None),
        ({"OMBUD_SERVER_PUBLIC_URL": "https://city.example/ombud/"}, "https://city.example/ombud"),
    ):
        with (
            Deployment.open(tmp_path / "city", with_key=False, environ=environ) as deployment,
            TestClient(create_portal(deployment), base_url="http://127.0.0.1") as client,
        ):
            for path in feeds:
                feed = client.get(path, headers=evil)
                assert feed.status_code == 200, path
                assert b"evil.example" not in feed.content, path
                assert feed.headers["cache-control"] == "no-cache", path  # as the public pages
                assert feed.headers["x-content-type-options"] == "nosniff", path
                self_link = ElementTree.fromstring(feed.content).find(
                    "{http://www.w3.org/2005/Atom}link[@rel='self']"
                )
                assert self_link is not None
                assert self_link.attrib["href"] == (address or "") + path
            verify = client.get("/verify", headers=evil)
            assert verify.status_code == 200 and "evil.example" not in verify.text
            command = html.unescape(verify.text.split("ombud verify ", 1)[1].split(" ", 1)[0])
            if address is None:
                assert command == "https://YOUR-CITY.example/"
                assert "server.public_url" in verify.text  # says why, and what to put
            else:
                assert command == f"{address}/"
                assert "YOUR-CITY" not in verify.text
            assert client.head(feeds[0], headers=evil).headers["cache-control"] == "no-cache"


def test_forms_are_checked_against_the_public_address_when_one_is_set(tmp_path: Path) -> None:
    """A form's Origin was compared with the request's Host header, which the sender chooses:
    a page served under a rebound DNS name sends that name as both. With ``server.public_url``
    set, the origin must be the public address's host, whatever the Host header says."""
    from ombud.deployment import init_deployment

    init_deployment(tmp_path / "city", "pages.example/log")
    environ = {"OMBUD_SERVER_PUBLIC_URL": "https://city.example/ombud/"}
    with (
        Deployment.open(tmp_path / "city", with_key=False, environ=environ) as deployment,
        TestClient(create_portal(deployment), base_url="http://127.0.0.1") as client,
    ):
        form = {"csrf": "x", "key": "ombud_resident_" + "x" * 40}
        rebound = {"Host": "rebound.example", "Origin": "http://rebound.example"}
        refused = client.post("/me/sign-in", data=form, headers=rebound)
        assert refused.status_code == 403 and "another site" in refused.text
        # the public address's own origin passes this check, and fails on the CSRF token next
        own = client.post("/me/sign-in", data=form, headers={"Origin": "https://city.example"})
        assert own.status_code == 403 and "CSRF" in own.text


def test_pages_answer_get_and_head_only(tmp_path: Path) -> None:
    """README, *Limits*: "Pages answer GET and HEAD only" — any other method is a 405 naming
    those two, with the security headers (a fresh deployment: no demo city needed)."""
    from ombud.deployment import init_deployment

    init_deployment(tmp_path / "city", "pages.example/log")
    with (
        Deployment.open(tmp_path / "city", with_key=False) as deployment,
        TestClient(create_portal(deployment), base_url="http://127.0.0.1") as client,
    ):
        for path in ("/", "/sensors", "/voice", "/privacy", "/oversight", "/verify", "/me"):
            assert client.head(path).status_code == 200, path
            for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
                refused = client.request(method, path)
                assert refused.status_code == 405, (method, path)
                assert refused.headers["allow"] == "GET, HEAD", (method, path)
                assert refused.headers["x-frame-options"] == "DENY"
