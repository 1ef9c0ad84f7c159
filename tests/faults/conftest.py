"""The fault test starts Redis servers of its own; without redis-server it is skipped, loudly.
Its table of measurements is printed at the end of the run, whether or not output is captured."""

import shutil

REDIS_SERVER = shutil.which("redis-server")
SKIP_MESSAGE = "FAULT TEST SKIPPED: install redis-server (apt-get install redis-server)"
TABLES: list[str] = []


def pytest_terminal_summary(terminalreporter):
    for table in TABLES:
        terminalreporter.write_sep("=", "faults measured")
        terminalreporter.write_line(table)
    if not REDIS_SERVER:
        terminalreporter.write_sep("!", SKIP_MESSAGE, red=True, bold=True)
