"""``python -m tinydl``: the same as the ``tinydl`` command (see tinydl/cli.py)."""

from tinydl.cli import main

raise SystemExit(main())
