"""Allow ``python -m paperboy``."""

from paperboy.cli.main import main

main()
