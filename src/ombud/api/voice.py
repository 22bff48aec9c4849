"""Voice routes: residents' posts (paid with an anonymous token), their receipts, Open311
GeoReport v2 intake, sentiment aggregates, coordination flags and the publication of issuer
keys.

Threat model: posting needs a resident token (RFC 9577 ``Authorization: PrivateToken
token=…``), never an account, and nothing about the client (address, IP, headers) is stored.
Contact details given with an Open311 request are kept only in the vault, encrypted for the
resident, and only under their recorded consent to follow-up. Per-post labels, exact counts
and the list of posts are microdata for the city's staff (``voice:read``): the public figures
are the differentially private releases (``/privacy/releases``), and anything public here
would let anyone rebuild the counts those protect. A post's writer reads it back with their
receipt (post id and salt); flagged posts are public by their ledger commitment and check,
never their labels (nothing silenced in secret, nothing counted in the open). Publishing a
period's issuer key (``voice:publish``) and releasing a flagged post (``quarantine:release``)
are ledger events naming the token that did it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ombud.api.auth import BearerHeader, require_scope, tokens_of
from ombud.api.bodies import Release, StrictRoute, parse_form, parse_json_body
from ombud.api.headers import NO_STORE
from ombud.api.openapi import problems
from ombud.api.params import HexId, Rfc3339
from ombud.api.problems import status_of
from ombud.base64url import unb64url
from ombud.errors import MalformedError, OmbudError, UnauthorizedError
from ombud.ledger.log import Attachment
from ombud.privacy.office import PrivacyOffice
from ombud.tokens import TokenInfo
from ombud.voice.acceptance import PostAcceptor
from ombud.voice.cover import CoverPolicy
from ombud.voice.flags import FlagBook
from ombud.voice.open311 import (
    FOLLOW_UP,
    Contact,
    issue_reporting,
    parse_request,
    service_list,
    split_contact,
)
from ombud.voice.posts import (
    MAX_TEXT,
    PostRequest,
    PostStore,
    Receipt,
    Submission,
    parse_salt,
    refuse_personal,
)
from ombud.voice.reports import PostReports
from ombud.voice.services import CATEGORIES

__all__ = ["create_router", "private_token"]

_PRIVATE_TOKEN = re.compile(r'PrivateToken\s+token="?([A-Za-z0-9_=-]+)"?\s*', re.IGNORECASE)


def private_token(authorization: str | None) -> bytes:
    """The token of an ``Authorization: PrivateToken token=<base64url>`` header (RFC 9577
    §2.2.2)."""
    if authorization is None:
        raise UnauthorizedError(
            'posting needs a resident token: Authorization: PrivateToken token="<base64url>"'
        )
    match = _PRIVATE_TOKEN.fullmatch(authorization.strip())
    if match is None:
        raise MalformedError('the Authorization header must be PrivateToken token="<base64url>"')
    return unb64url(match.group(1), "the token", most=1024, padded=True)


class NewPost(BaseModel):
    model_config = ConfigDict(extra="allow")

    text: str = Field(max_length=MAX_TEXT * 2, description=f"At most {MAX_TEXT} characters.")
    district: str = Field(max_length=64, description="District or grid cell id; never a point.")
    service: str | None = Field(default=None, description=f"One of {', '.join(CATEGORIES)}.")


class Publication(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: str = Field(max_length=32)
    issuer: str = Field(max_length=200)
    key: str = Field(max_length=1000, description="RFC 9578 §6.5 issuer key, base64.")


class ReceiptBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    post: str = Field(pattern="^[0-9a-f]{32}$", description="The post id the receipt names.")
    salt: str = Field(
        pattern="^[A-Za-z0-9_-]{43}=?$", description="The receipt's salt, base64url (32 bytes)."
    )


def _open311_error(exc: OmbudError) -> JSONResponse:
    status, _ = status_of(exc)
    detail = str(exc) if status < 500 else "the server could not complete the request"
    return JSONResponse([{"code": status, "description": detail}], status_code=status)


def _contact(office: PrivacyOffice, contact: Contact) -> Attachment:
    """The contact details of an Open311 request, sealed in the vault under the resident's
    consent to follow-up. The caller must be that resident (their access key, else
    ``UnauthorizedError``, saying nothing of the account); only then is their consent checked
    (``ConsentError`` without one: the request is not accepted)."""
    vault = office.vault
    try:
        own = vault.ref_for_access(contact.resident_key)
    except UnauthorizedError:
        own = b""
    if not hmac.compare_digest(own, vault.ref(contact.account)):
        raise UnauthorizedError("contact details need the resident access key of this account_id")

    def data(post_id: str) -> bytes:
        details = {"serviceRequest": post_id, **contact.details}
        return json.dumps(details, sort_keys=True).encode()

    return office.attach_under_consent(contact.account, *FOLLOW_UP, "contact", data, actor="voice")


VoiceRead = require_scope("voice:read")
QuarantineRelease = Annotated[TokenInfo, require_scope("quarantine:release")]
VoicePublish = Annotated[TokenInfo, require_scope("voice:publish")]


def create_router(
    posts: PostStore,
    acceptor: PostAcceptor,
    flags: FlagBook,
    reports: PostReports,
    office: Callable[[], PrivacyOffice],
    cover: CoverPolicy | None = None,
) -> APIRouter:
    """``office()`` gives the privacy office (for contact details) or raises
    ``MasterKeyError``; ``cover`` is the policy of the cover leaves (the defaults when
    None)."""
    policy = cover or CoverPolicy()
    router = APIRouter(tags=["voice"], route_class=StrictRoute)

    @router.post(
        "/voice/posts",
        status_code=201,
        dependencies=[NO_STORE],
        responses=problems(401, 403, 409, 422),
        summary="Post what a resident says, paid with one anonymous token (RFC 9578 type 2).",
    )
    def submit(
        body: NewPost,
        authorization: Annotated[
            str | None, Header(description='PrivateToken token="<base64url>" (RFC 9577)')
        ] = None,
    ) -> dict[str, Any]:
        extra = set(body.model_extra or ())
        refuse_personal(extra)
        if extra:
            raise MalformedError(
                f"unknown field(s) {sorted(extra)}; a post has text, district, service"
            )
        submission = Submission(body.text, body.district, body.service)
        receipt = acceptor.accept(PostRequest(submission, private_token(authorization)))
        return {**receipt.post.to_json(), "receipt": receipt.to_json()}

    @router.post(
        "/voice/receipts",
        dependencies=[NO_STORE],
        responses=problems(404),
        summary="Open a post's receipt: its record, labels and ledger proof, for its writer.",
    )
    def open_receipt(body: ReceiptBody) -> dict[str, Any]:
        opened = posts.open_receipt(body.post, parse_salt(body.salt))
        index = opened.post.ledger_index
        bundle = posts.log.prove(index)
        return {
            **opened.to_json(),
            "event": posts.log.entry(index).decode("utf-8"),
            "tlogProof": None if bundle is None else base64.b64encode(bundle.to_bytes()).decode(),
        }

    @router.get(
        "/voice/posts",
        responses=problems(401, 403),
        summary="Recent posts with their text (scope voice:read).",
        dependencies=[NO_STORE, VoiceRead],
    )
    def list_posts(
        district: Annotated[str | None, Query(max_length=64)] = None,
        service: Annotated[str | None, Query(max_length=20)] = None,
        flagged: Annotated[bool | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        # Listing every post is microdata: the public gets differentially private releases
        # (/privacy/releases), the city's staff this.
        found = reports.list(district=district, service=service, flagged=flagged, limit=limit)
        return [p.to_json(with_text=True) for p in found]

    @router.get(
        "/voice/posts/{post_id}",
        dependencies=[NO_STORE, VoiceRead],
        responses=problems(401, 403, 404),
        summary="One post, or its IssueReporting entity (scope voice:read; a writer opens "
        "their own with POST /voice/receipts).",
    )
    def get_post(
        post_id: HexId,
        view: Annotated[str, Query(alias="as", pattern="^(post|IssueReporting)$")] = "post",
    ) -> dict[str, Any]:
        post = posts.get(post_id)
        if view == "IssueReporting":
            return issue_reporting(post, with_text=True)
        return post.to_json(with_text=True)

    @router.get(
        "/voice/sentiment",
        dependencies=[NO_STORE, VoiceRead],
        responses=problems(401, 403),
        summary="Exact counts by sentiment, flagged posts left out (scope voice:read; the "
        "public figures are the differentially private /privacy/releases).",
    )
    def get_sentiment(
        district: Annotated[str | None, Query(max_length=64)] = None,
        service: Annotated[str | None, Query(max_length=20)] = None,
        since: Annotated[Rfc3339 | None, Query(description="RFC 3339, inclusive")] = None,
        until: Annotated[Rfc3339 | None, Query(description="RFC 3339, exclusive")] = None,
    ) -> dict[str, Any]:
        summary = reports.sentiment(district=district, service=service, since=since, until=until)
        return summary.to_json()

    @router.get(
        "/voice/flags",
        summary="Posts flagged as coordinated: each by its ledger commitment, with the check "
        "and whether it was released (their labels and detailed reasons are for voice:read, "
        "at /voice/posts?flagged=true).",
    )
    def list_flags(
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        return [f.to_json() for f in flags.list(limit=limit)]

    @router.post(
        "/voice/flags/{post_id}/release",
        responses=problems(401, 403, 404, 409),
        summary="Count a flagged post again (scope quarantine:release).",
    )
    def release(
        post_id: HexId,
        body: Release,
        token: QuarantineRelease,
    ) -> dict[str, Any]:
        flags.release(post_id, body.reason, actor=f"token:{token.id}")
        # The flag as the public sees it: releasing a post is no licence to read its labels.
        (flag,) = flags.list(post_id=post_id, limit=1)
        return flag.to_json()

    @router.post(
        "/voice/issuer-keys",
        status_code=201,
        responses=problems(401, 403, 409),
        summary="Publish the one issuer key of a period on the ledger (scope voice:publish).",
    )
    def publish(body: Publication, token: VoicePublish) -> dict[str, Any]:
        try:
            key = base64.b64decode(body.key, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedError("key must be base64") from None
        published = posts.book.publish(
            posts.log, body.period, body.issuer, key, actor=f"token:{token.id}", clock=posts.clock
        )
        return _key_json(published.period, published.issuer, key, published.ledger_index)

    @router.get(
        "/voice/issuer-keys/{period}",
        responses=problems(404),
        summary="The published issuer key of a period.",
    )
    def get_key(period: Annotated[str, Path(max_length=32)]) -> dict[str, Any]:
        found = posts.book.key(period)
        return _key_json(found.period, found.issuer, found.key, found.ledger_index)

    @router.get(
        "/voice/cover",
        summary="The cover leaves' policy: each hour of a week-shaped token period whose key is "
        "published gets max(0, shift + Z) dummy post.accepted leaves, so the hour's count of "
        "them is (epsilon, delta)-differentially private.",
    )
    def get_cover() -> dict[str, Any]:
        return policy.to_json()

    @router.get(
        "/open311/v2/services.json",
        summary="Open311 GeoReport v2 service list.",
        tags=["open311"],
    )
    def services() -> list[dict[str, Any]]:
        return service_list()

    def accept_request(submission: Submission, token: bytes, contact: Contact | None) -> Receipt:
        """The token is checked first, then the resident key and consent behind any contact
        details: a request without a valid token learns nothing about anyone's consents."""
        posts.book.check(token, posts.book.period_of(token), posts.clock())
        attach = None if contact is None else _contact(office(), contact)
        return acceptor.accept(PostRequest(submission, token, "open311", attach))

    @router.post(
        "/open311/v2/requests.json",
        dependencies=[NO_STORE],
        status_code=201,
        responses=problems(401, 403, 409, 422, 503),
        summary="Open311 GeoReport v2 service request (form-encoded), paid with a token.",
        tags=["open311"],
        response_model=None,
    )
    async def open311_request(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
    ) -> list[dict[str, Any]] | JSONResponse:
        try:
            form = await _form(request)
            token_field = form.pop("token", None)
            contact = split_contact(form)
            submission = parse_request(form)
            if token_field is not None:
                if authorization is not None or len(token_field) != 1:
                    raise MalformedError("give one token, in the header or in the form")
                authorization = f'PrivateToken token="{token_field[0]}"'
            token = private_token(authorization)
            receipt = await run_in_threadpool(accept_request, submission, token, contact)
        except OmbudError as exc:
            return _open311_error(exc)
        post = receipt.post
        account = None if contact is None else contact.account
        kept = "the text" if contact is None else "the text, and your contact details in the vault,"
        return [
            {
                "service_request_id": post.id,
                "service_notice": "Thank you. Only the text, service and district are kept "
                f"with the request; {kept} until {post.expires.date().isoformat()}. Keep "
                "service_request_id and receipt_salt: with both, POST /voice/receipts shows "
                "the request and proves it is on the city's public log; nobody else can.",
                "account_id": account,
                "receipt_salt": receipt.to_json()["salt"],
            }
        ]

    @router.get(
        "/open311/v2/requests/{post_id}.json",
        dependencies=[NO_STORE],
        responses=problems(401, 403, 404),
        summary="Open311 GeoReport v2: one service request.",
        tags=["open311"],
        response_model=None,
    )
    def open311_get(
        request: Request,
        post_id: HexId,
        authorization: BearerHeader = None,
    ) -> list[dict[str, Any]] | JSONResponse:
        # A request's service, district and time are its labels: staff (voice:read) see them;
        # anyone else learns its status only (its writer opens it with the receipt).
        try:
            post = posts.get(post_id)
            staff = authorization is not None and bool(
                tokens_of(request).authorize(authorization, "voice:read")
            )
        except OmbudError as exc:
            return _open311_error(exc)
        found: dict[str, Any] = {"service_request_id": post.id, "status": "open"}
        if staff:
            found |= {
                "service_code": post.service,
                "requested_datetime": post.received.isoformat(),
                "address_id": post.district,
            }
        return [found]

    return router


async def _form(request: Request) -> dict[str, list[str]]:
    """The fields of a GeoReport v2 request, form-encoded or JSON, through the one strict
    parser (``ombud.api.bodies``); the body's size was capped as it streamed."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("application/x-www-form-urlencoded", "application/json"):
        raise MalformedError("send application/x-www-form-urlencoded (GeoReport v2) or JSON")
    raw = await request.body()
    if kind == "application/x-www-form-urlencoded":
        return parse_form(raw)
    data = parse_json_body(raw)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise MalformedError("the JSON body must be an object of strings")
    return {k: [v] for k, v in data.items()}


def _key_json(period: str, issuer: str, key: bytes, index: int) -> dict[str, Any]:
    return {
        "period": period,
        "issuer": issuer,
        "key": base64.b64encode(key).decode("ascii"),
        "ledgerIndex": index,
    }
