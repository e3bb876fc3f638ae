"""python3 jwt_client.py URL TOKEN EXPECT

Python's websockets opens URL offering the subprotocols "chat" and TOKEN
(the browser pattern for a token: a browser's WebSocket cannot set
headers). EXPECT 101: the upgrade succeeds with "chat" chosen, and the
backend's first message (the request head it received) carries the
verified sub claim as X-User-Id and not the token. Any other number: the
handshake is refused with that HTTP status. Exits 0 on success, 1 with a
message.
"""

import asyncio
import sys

import websockets
import websockets.exceptions as wse

from wsclient import fail, header_kw, refused_status


async def main(url, token, expect):
    try:
        async with websockets.connect(url, subprotocols=["chat", token], open_timeout=10) as ws:
            if expect != 101:
                fail("upgrade succeeded, want %d" % expect)
            if ws.subprotocol != "chat":
                fail("subprotocol %r, want 'chat'" % ws.subprotocol)
            head = await asyncio.wait_for(ws.recv(), 10)
            if token in head:
                fail("the backend saw the token:\n" + head)
            if "\r\nX-User-Id: u7\r\n" not in head:
                fail("the backend saw no X-User-Id claim:\n" + head)
            await ws.send("hello")
            echo = await asyncio.wait_for(ws.recv(), 10)
            if echo != "hello":
                fail("echo %r" % echo)
            await ws.close(code=1000)
    except (getattr(wse, "InvalidStatus", ()), getattr(wse, "InvalidStatusCode", ())) as exc:
        got = refused_status(exc)
        if got != expect:
            fail("refused with %s, want %d" % (got, expect))
    print("ok: -> %d" % expect)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        fail("usage: jwt_client.py URL TOKEN EXPECT")
    asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2], int(sys.argv[3])), 25))
