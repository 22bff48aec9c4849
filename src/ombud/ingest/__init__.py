"""Signed sensor ingest: observations a device signed, in a shape the city can use.

Threat model: sensors in the field are spoofed and replayed. An observation is accepted only if
it is a valid Smart Data Model entity (``models``) carrying a W3C Data Integrity proof by the
registered key of the device that made it (``ombud.integrity``).
"""
