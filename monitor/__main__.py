"""``python -m monitor`` is ``ivh-monitor``."""

import sys

from monitor.cli import main

sys.exit(main())
