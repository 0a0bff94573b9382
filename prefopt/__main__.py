"""``python -m prefopt`` is the ``prefopt`` command."""

from prefopt.cli import main

raise SystemExit(main())
