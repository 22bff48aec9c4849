"""Citizen voice: anonymous one-per-resident tokens, posts, and what residents say.

* ``blind_rsa``, ``tokens``, ``issuer``, ``redemption`` — RFC 9474 blind signatures, RFC 9578
  type 0x0002 tokens, the city's issuer, and the platform spending each token once;
* ``posts`` — posts and imported public posts, their ledger commitments, retention and flags;
  ``open311`` — GeoReport v2 intake and the IssueReporting view;
* ``normalise``, ``sentiment``, ``services``, ``labels`` — text normalised against obfuscation,
  then its sentiment (the shipped model) and service category.
"""
