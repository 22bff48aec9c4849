"""Scoped bearer tokens (``ombud.tokens.store``): made from the random source, stored as a
digest, checked in constant time for one scope, revocable; on both databases."""

from __future__ import annotations

import hashlib
import hmac
import random
import re
from datetime import UTC, datetime

import pytest

from ombud.database import Database
from ombud.errors import ForbiddenError, MalformedError, NotFoundError, UnauthorizedError
from ombud.tokens import TokenStore, store

NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
TOKEN = re.compile(r"ombud_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


def bearer(token: str) -> str:
    return f"Bearer {token}"


@pytest.fixture
def tokens(database: Database) -> TokenStore:
    return TokenStore(database)


# --- the token store -----------------------------------------------------------------------------


def test_a_token_has_the_documented_form_and_only_its_digest_is_stored(
    tokens: TokenStore, database: Database
) -> None:
    info, token = tokens.create({"devices:write"}, "ci deploys", now=NOW)
    match = TOKEN.fullmatch(token)
    assert match is not None, token
    token_id, secret = match.groups()
    assert info.id == token_id and info.scopes == {"devices:write"}
    assert (info.note, info.created, info.revoked) == ("ci deploys", "2026-03-14T09:30:00Z", False)
    rows = database.read("SELECT * FROM tokens")
    assert len(rows) == 1
    stored = " ".join(
        bytes(v).hex() + repr(bytes(v)) if isinstance(v, bytes | memoryview) else str(v)
        for v in rows[0]
    )
    assert secret not in stored and token not in stored
    assert secret.encode() not in b"".join(
        bytes(v) for v in rows[0] if isinstance(v, bytes | memoryview)
    )
    (digest,) = database.read("SELECT digest FROM tokens WHERE id = ?", (token_id,))[0]
    assert bytes(digest) == hashlib.sha256(secret.encode()).digest()


def test_the_token_comes_from_the_random_source(tokens: TokenStore) -> None:
    source = random.Random(5)
    info, token = tokens.create({"voice:read"}, "", now=NOW, random_bytes=source.randbytes)
    again = random.Random(5)
    assert info.id == again.randbytes(6).hex()
    assert token.startswith(f"ombud_{info.id}_") and len(token) == 6 + 12 + 1 + 43


def test_authorize_with_the_scope(tokens: TokenStore) -> None:
    info, token = tokens.create({"voice:read"}, "dashboard", now=NOW)
    granted = tokens.authorize(bearer(token), "voice:read")
    assert granted.id == info.id and granted.scopes == {"voice:read"}
    assert tokens.authorize(f"bearer {token}", "voice:read").id == info.id
    assert tokens.authorize(f"Bearer  {token} ", "voice:read").id == info.id


def test_a_scope_grants_only_itself(tokens: TokenStore) -> None:
    _, token = tokens.create({"devices:write"}, "", now=NOW)
    assert tokens.authorize(bearer(token), "devices:write").scopes == {"devices:write"}
    for other in ("voice:read", "quarantine:release", "privacy:release"):
        with pytest.raises(ForbiddenError, match=other):
            tokens.authorize(bearer(token), other)


def test_the_retired_devices_read_scope_can_no_longer_be_given(tokens: TokenStore) -> None:
    """The registry is public now (``GET /devices``), so no token is needed to read it."""
    with pytest.raises(MalformedError, match="devices:read"):
        tokens.create({"devices:read"}, "", now=NOW)


def test_the_secret_is_compared_in_constant_time_whether_or_not_its_id_exists(
    tokens: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README: only SHA-256 of the secret is stored, "compared in constant time" — by
    ``hmac.compare_digest`` against the stored digest, and against a stand-in when the id is
    unknown, so that neither the comparison nor its absence says which ids exist."""
    _, token = tokens.create({"devices:write"}, "", now=NOW)
    token_id, secret = token.split("_", 2)[1:]
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(store.hmac, "compare_digest", spy)
    digest = hashlib.sha256(secret.encode()).digest()
    assert tokens.authorize(bearer(token), "devices:write").id == token_id
    assert compared == [(digest, digest)]
    other = "B" if secret[0] == "A" else "A"  # a secret's first character is "A" once in 64
    for wrong in (f"ombud_{token_id}_{other}{secret[1:]}", f"ombud_{'0' * 12}_{secret}"):
        compared.clear()
        with pytest.raises(UnauthorizedError):
            tokens.authorize(bearer(wrong), "devices:write")
        assert len(compared) == 1 and len(compared[0][0]) == len(compared[0][1]) == 32


def test_a_bad_credential_is_unauthorized(tokens: TokenStore) -> None:
    source = random.Random(3).randbytes
    info, token = tokens.create({"devices:write"}, "", now=NOW, random_bytes=source)
    token_id, secret = token.split("_", 2)[1:]
    assert token_id != token_id.upper() and not secret.startswith("A")
    wrong_secret = f"ombud_{token_id}_A{secret[1:]}"
    unknown_id = f"ombud_{'0' * 12}_{secret}"
    for header in [
        None,
        "",
        token,  # no scheme
        f"Basic {token}",
        "Bearer",
        "Bearer ",
        "Bearer not-a-token",
        f"Bearer {token}x",
        f"Bearer {token[:-1]}",
        f"Bearer ombud_{token_id.upper()}_{secret}",
        bearer(wrong_secret),
        bearer(unknown_id),
    ]:
        with pytest.raises(UnauthorizedError) as caught:
            tokens.authorize(header, "devices:write")
        assert secret not in str(caught.value)
    tokens.revoke(info.id)
    with pytest.raises(UnauthorizedError):
        tokens.authorize(bearer(token), "devices:write")


def test_a_revoked_token_is_listed_as_revoked(tokens: TokenStore) -> None:
    first, _ = tokens.create({"voice:read"}, "one", now=NOW)
    second, token = tokens.create({"devices:write", "voice:read"}, "two", now=NOW)
    tokens.revoke(first.id)
    listed = {t.id: t for t in tokens.list()}
    assert listed[first.id].revoked and not listed[second.id].revoked
    assert listed[second.id].scopes == {"devices:write", "voice:read"}
    assert listed[second.id].to_json()["scopes"] == ["devices:write", "voice:read"]
    assert token not in repr(list(tokens.list()))
    with pytest.raises(NotFoundError):
        tokens.revoke("0123456789ab" if first.id != "0123456789ab" else "ba9876543210")


@pytest.mark.parametrize(
    ("scopes", "note"),
    [
        ({"devices:admin"}, ""),
        ({"voice:read", "nonsense"}, ""),
        (set(), ""),
        ({"voice:read"}, "n" * 201),
    ],
)
def test_creation_refuses_unknown_scopes_and_long_notes(
    tokens: TokenStore, database: Database, scopes: set[str], note: str
) -> None:
    with pytest.raises(MalformedError):
        tokens.create(scopes, note, now=NOW)
    assert database.read("SELECT count(*) FROM tokens")[0][0] == 0


# --- the admin routes ----------------------------------------------------------------------------
