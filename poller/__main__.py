"""Allow `python -m poller`."""

from poller.cli import main

raise SystemExit(main())
