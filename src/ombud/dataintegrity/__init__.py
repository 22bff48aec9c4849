"""W3C Data Integrity: documents signed where they are made, verifiable wherever they travel.

Threat model: a signed document (a sensor's observation, later a public decision) crosses
untrusted networks, brokers and stores. Its proof binds the RFC 8785 canonical form of the
document and of the proof options to an Ed25519 key named as a ``did:key``, so any change to
either — a value, a timestamp, a counter — makes verification fail. A leaf package: it imports
only ``canonical`` and ``errors``.

* ``multikey`` — Ed25519 keys as Multikey multibase strings and ``did:key`` identifiers;
* ``eddsa_jcs_2022`` — the ``eddsa-jcs-2022`` cryptosuite (W3C Data Integrity EdDSA
  Cryptosuites v1.0 §3.3), creating and verifying ``DataIntegrityProof`` members.
"""
