"""A deployment's privacy office for tests: a log, a vault under a fresh master key, consents."""

from __future__ import annotations

import pytest

from ombud.database import Database
from ombud.ledger import note
from ombud.ledger.log import Log
from ombud.ledger.store_sql import SqlStore
from ombud.privacy.consent import ConsentBook, Grant
from ombud.privacy.master_key import MasterKey
from ombud.privacy.vault import Vault
from tests.voice.conftest import Clock

MARKER = "zq-marker-7f3e9a"
"""A string no file would hold by chance: put in personal data, searched for after erasure."""


def grant(subject: str, **changes: object) -> Grant:
    values: dict[str, object] = {
        "subject": subject,
        "purposes": ("service-request-follow-up",),
        "data_categories": ("contact-details",),
        "controller": "City of Example, data office",
        "retention_days": 30,
    }
    values.update(changes)
    return Grant(**values)  # type: ignore[arg-type]


class Office:
    def __init__(self, database: Database) -> None:
        self.db = database
        self.clock = Clock()
        self.log = Log(
            SqlStore.create(database, "p.example/log"), note.Signer.generate("p.example/log")
        )
        self.master = MasterKey.generate()
        self.vault = Vault(database, [self.master], clock=self.clock)
        self.consents = ConsentBook(self.vault, self.log, clock=self.clock)


@pytest.fixture
def office(database: Database) -> Office:
    return Office(database)
