"""Pure detectors: data in, verdicts with their evidence out — nothing stored, nothing read.

Threat model: a detector decides what the city believes, so each is a small pure function of
its input (clock and randomness passed in), reproducible by anyone who holds the same data, and
explains every verdict with its evidence. Storage and scheduling live in the packages that own
the data (``ombud.sensors`` for observations, ``ombud.voice`` for posts).

* ``checks`` — plausibility of one sensor reading: range, missing-value codes, stuck value, rate
  of change, a replayed day, disagreement with its neighbours, a drifting offset;
* ``aggregate`` — robust district figures (weighted median, trimmed mean, Huber) with each
  device's weight capped;
* ``detector`` — the streaming anomaly detector over one series (its state a snapshot of bytes
  that ``ombud.sensors.screening`` stores);
* ``coordination`` — coordinated campaigns among residents' posts (near-duplicate bursts by
  MinHash LSH, rate anomalies, one author posting too much).
"""
