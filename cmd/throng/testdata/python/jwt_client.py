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

from wsclient import expect_upgrade, fail, run


async def main(url, token, expect):
    async def check(ws):
        if ws.subprotocol != "chat":
            fail("subprotocol %r, want 'chat'" % ws.subprotocol)
        head = await asyncio.wait_for(ws.recv(), 10)
        if token in head:
            fail("the backend saw the token:\n" + head)
        if "\r\nX-User-Id: u7\r\n" not in head:
            fail("the backend saw no X-User-Id claim:\n" + head)

    await expect_upgrade(url, expect, check, subprotocols=["chat", token])
    print("ok: -> %d" % expect)


if __name__ == "__main__":
    run("jwt_client.py", ["URL", "TOKEN", "EXPECT"], main)
