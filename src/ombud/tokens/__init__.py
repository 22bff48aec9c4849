"""Scoped bearer tokens for the city's staff and services: created by the operator, stored hashed.

Threat model: anyone on the network can call the API, so a privileged route answers only to a
token carrying the scope it needs; no token exists until the operator creates one, the
database keeps only a hash of its secret (compared in constant time), and a token can be
revoked. See ``store`` (table ``tokens``) and ``scopes``.
"""

from __future__ import annotations

from ombud.tokens.scopes import SCOPES
from ombud.tokens.store import TokenInfo, TokenStore

__all__ = ["SCOPES", "TokenInfo", "TokenStore"]
