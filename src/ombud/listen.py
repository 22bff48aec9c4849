"""Listen addresses: ``HOST:PORT`` as the settings and the command line write them.

Threat model: an address is operator input; anything that is not a host and a port in range is
refused with the address named, never guessed at.
"""

from __future__ import annotations

from ombud.errors import ConfigError

__all__ = ["parse_listen"]


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` → (host, port), with a clear error for anything else."""
    host, sep, port_s = listen.rpartition(":")
    digits = port_s.isascii() and port_s.isdigit()  # "²".isdigit() is True; int() refuses it
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # an IPv6 address: [::1]:8000
    # An empty host ("[]:8000") would bind every interface; it has to be said ("0.0.0.0").
    brackets = "[" in host or "]" in host
    if not sep or not host or brackets or not digits or not 0 < int(port_s) < 65536:
        raise ConfigError(f"listen address {listen!r} is not HOST:PORT")
    return host, int(port_s)
