"""Privacy by construction: consent, the vault with crypto-shredding, retention, residents'
exports, and differentially private releases (DESIGN §7).

Threat model: whoever runs the platform must not be able to read, keep or publish more about
a resident than the resident agreed to. Personal data lives only in the vault, encrypted under
a key per subject (erasure destroys the key); every grant, withdrawal, erasure and release is
on the ledger as a commitment, never in clear; published figures are differentially private.

* ``consent`` — ISO/IEC TS 27560 records and the check every processing path makes;
* ``vault`` — per-subject keys wrapped by the master key (``master_key``), crypto-shredding;
* ``retention``, ``export`` — purging what expired; a resident's own data with proofs;
* ``dp`` — OpenDP releases per district and service, with their budget;
* ``office`` — the above wired together for the API and the CLI (``ombud.deployment``).

Submodules are imported where they are used: opening a log need not load the vault.
"""
