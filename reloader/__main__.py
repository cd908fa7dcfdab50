"""``python -m reloader`` runs the same command line as the ``reloader`` console script."""

from reloader.cli import main

raise SystemExit(main())
