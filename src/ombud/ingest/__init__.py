"""Signed sensor ingest: observations a device signed, in a shape the city can use.

Threat model: sensors in the field are spoofed and replayed. An observation is accepted only if
it is a valid Smart Data Model entity (``models``) carrying a W3C Data Integrity proof by the
registered key of the device that made it (``ombud.dataintegrity``), whichever way it came
(HTTP: ``ombud.api.ngsi_ld``; MQTT: ``mqtt``). Accepted observations are stored by
``ombud.sensors``.

* ``devices`` — the registry (table ``devices``); ``models`` — the Smart Data Model validators
  and their cache (``model_cache``); ``observation`` and ``signer`` — checking and signing;
* ``intake`` — the one path observations take in; ``mqtt`` and ``broker_health`` — the MQTT
  worker and the broker's dropped messages (tables ``mqtt_brokers``, ``mqtt_workers``);
* ``fleet`` and ``simulation`` — simulated signing sensors.
"""
