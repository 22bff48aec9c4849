"""Witnesses: independent cosigners that stop a log from forking or rewriting its history.

Threat model: a checkpoint signed by the log alone proves nothing against the log's operator,
who could show different histories to different people. A witness cosigns a checkpoint only
if it is consistent with everything it cosigned for that log before, so a quorum of honest
witnesses makes a split view or a rollback impossible to publish (c2sp.org/tlog-witness).

* ``protocol`` — the add-checkpoint wire format; ``witness`` — the checks and cosigning;
* ``state`` — the durable per-log record; ``statedir`` — key files; ``app``/``server`` — HTTP;
* ``policy``, ``client`` and ``publisher`` — the log's side: whom to ask, how, and when a
  checkpoint may be published.
"""
