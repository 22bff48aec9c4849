"""The ``ombud`` command line (typer): thin shells over the library."""
