"""`python -m husk`: the CLI (the monitor's exit command uses this form)."""

from husk.cli import main

main()
