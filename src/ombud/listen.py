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
    if not sep or not host or not digits or not 0 < int(port_s) < 65536:
        raise ConfigError(f"listen address {listen!r} is not HOST:PORT")
    return host.strip("[]"), int(port_s)
