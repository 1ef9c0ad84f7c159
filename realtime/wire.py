"""A frame written straight to a socket's transport, serialised once for all its recipients.

Through ASGI, every recipient of a frame pays for Uvicorn's `send` (its checks, websockets'
framing of the text, a bytes join) before the one system call that matters: three quarters of a
delivery's CPU in a room of 500. A server frame is unmasked, so its bytes are the same for every
uncompressed socket; like websockets' own `broadcast` and Centrifugo's hub, the frame is
serialised once and each socket's transport is handed those bytes.

Only where that is safe: Uvicorn's sans-I/O WebSocket protocol (the production server), with no
compression negotiated, while the socket is open and its transport takes writes. Anywhere else
(a paused transport, a closing socket, Daphne, the tests' communicator) the frame goes the usual
way, through the consumer's queue and ASGI `send`. A socket's replies (its `hello`, a send's
acknowledgement) take the same path when nothing is queued before them."""

import functools
from collections.abc import Callable

from websockets.frames import Frame, Opcode
from websockets.protocol import State

# Where SocketAuthMiddleware keeps the server's own `send` (middlewares may wrap the one the
# consumer gets).
SERVER_SEND = "parley.server_send"


def frame_bytes(text: str) -> bytes:
    """A text frame as the server sends it (a reply to one socket)."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


@functools.lru_cache(maxsize=256)
def wire_bytes(text: str) -> bytes:
    """frame_bytes, for a frame of many recipients: the last frames' bytes are kept, so a
    fan-out serialises each frame once."""
    return frame_bytes(text)


def direct_writer(server_send) -> Callable[[bytes], bool] | None:
    """For a socket accepted by Uvicorn's sans-I/O protocol without compression: a function
    that writes a frame's bytes to its transport now and says whether it did (not while the
    transport is paused or the socket closing). None where frames must go through ASGI."""
    protocol = getattr(server_send, "__self__", None)
    if type(protocol).__name__ != "WebSocketsSansIOProtocol" or protocol.conn.extensions:
        return None

    def write(data: bytes) -> bool:
        if (
            not protocol.writable.is_set()
            or protocol.close_sent
            or protocol.conn.state is not State.OPEN
            or protocol.transport.is_closing()
        ):
            return False
        protocol.transport.write(data)
        return True

    return write
