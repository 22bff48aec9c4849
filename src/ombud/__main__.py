"""``python -m ombud`` runs the ``ombud`` command."""

from ombud.cli.main import main

main()
