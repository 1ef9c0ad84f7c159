"""The bare limit: a broadcast server on the `websockets` library, no auth, no database.

python -m bench.baselines.bare_server PORT   # rooms are paths: ws://127.0.0.1:PORT/room/<id>
Each text frame {"type": "send", "room", "body", "client_id"} goes to every socket in the room
(the sender too) as {"type": "message", "room", "message": {...}}, serialised once."""

import asyncio
import json
import sys

from websockets.asyncio.server import broadcast, serve

rooms: dict[str, set] = {}


async def handler(websocket):
    room = websocket.request.path.rstrip("/").rsplit("/", 1)[-1]
    members = rooms.setdefault(room, set())
    members.add(websocket)
    try:
        async for text in websocket:
            frame = json.loads(text)
            message = {
                "room": frame["room"],
                "body": frame["body"],
                "client_id": frame["client_id"],
            }
            broadcast(
                members, json.dumps({"type": "message", "room": frame["room"], "message": message})
            )
    finally:
        members.discard(websocket)


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port, max_size=80 * 1024, ping_interval=None):
        await asyncio.Future()


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(int(sys.argv[1])))
    else:
        uvloop.run(main(int(sys.argv[1])))
