"""``python -m psychoml.cli``."""

from psychoml.cli import main

raise SystemExit(main())
