from tests.chat.conftest import sockets  # noqa: F401 (the socket opener fixture)
