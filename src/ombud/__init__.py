"""ombud: a city's sensors and residents, heard through a witnessed, tamper-evident ledger.

Threat model: the operator of an ombud deployment is not trusted to keep history honest;
everything it accepts is recorded in a verifiable log (`ombud.ledger`) that anyone can audit.
"""

import logging

__version__ = "0.1.0"

logging.getLogger("ombud").addHandler(logging.NullHandler())  # applications configure logging
