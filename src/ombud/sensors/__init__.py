"""The stored observations and everything about them: screening, quarantine, indicators, coverage.

Threat model: a registered device, or a stolen key, sends validly signed readings that lie.
Nothing accepted is changed or deleted: suspect readings and devices are quarantined — kept,
flagged with the check and its evidence, left out of aggregates, visible to anyone — and
every quarantine and release is a ledger event. The devices themselves are ``ombud.ingest``'s:
each stored observation keeps the model and district of the device that signed it, so this
package never reads the registry's table.

* ``observations`` — the signed observations as stored, with their ledger index (tables
  ``observations``, ``entities``);
* ``quarantine`` — quarantined readings and devices, and their releases;
* ``screening`` — every stored observation screened once, in ledger order;
* ``indicators``, ``coverage`` — district figures over what is not quarantined, a device's
  sampling and its gaps.
"""
