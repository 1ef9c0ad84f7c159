"""The deployment tests run Debian's nginx; without it they are skipped, and say so loudly."""

import os
from pathlib import Path

NGINX = Path(os.environ.get("PARLEY_NGINX", "/usr/sbin/nginx"))
SKIP_MESSAGE = (
    "NGINX TEST SKIPPED: install Debian's nginx (apt-get install nginx) to run tests/deploy"
)


def pytest_terminal_summary(terminalreporter):
    if not NGINX.exists():
        terminalreporter.write_sep("!", SKIP_MESSAGE, red=True, bold=True)
