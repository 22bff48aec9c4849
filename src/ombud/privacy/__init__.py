"""Privacy by construction: consent, the vault with crypto-shredding, retention, residents'
exports, and differentially private releases (DESIGN §7)."""

from ombud.privacy.consent import ConsentBook, ConsentRecord, Grant
from ombud.privacy.dp import Cell, DpParameters, Release, ReleaseBook, satisfaction
from ombud.privacy.master_key import MasterKey
from ombud.privacy.vault import Vault

__all__ = [
    "Cell",
    "ConsentBook",
    "ConsentRecord",
    "DpParameters",
    "Grant",
    "MasterKey",
    "Release",
    "ReleaseBook",
    "Vault",
    "satisfaction",
]
