"""``python -m kangaroo.cli``."""

from . import main

main()
