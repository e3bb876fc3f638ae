"""python3 cookie_client.py URL COOKIE EXPECT

Python's websockets opens URL with the given Cookie header. EXPECT 101:
the upgrade succeeds and a message echoes; any other number: the
handshake is refused with that HTTP status. Exits 0 on success, 1 with a
message.
"""

import asyncio
import sys

import websockets
import websockets.exceptions as wse

from wsclient import fail, header_kw, refused_status


async def main(url, cookie, expect):
    try:
        async with websockets.connect(url, open_timeout=10, **header_kw({"Cookie": cookie})) as ws:
            if expect != 101:
                fail("upgrade succeeded, want %d" % expect)
            await ws.send("hello")
            echo = await asyncio.wait_for(ws.recv(), 10)
            if echo != "hello":
                fail("echo %r" % echo)
            await ws.close(code=1000)
    except (getattr(wse, "InvalidStatus", ()), getattr(wse, "InvalidStatusCode", ())) as exc:
        got = refused_status(exc)
        if got != expect:
            fail("refused with %s, want %d" % (got, expect))
    print("ok: %s -> %d" % (cookie, expect))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        fail("usage: cookie_client.py URL COOKIE EXPECT")
    asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2], int(sys.argv[3])), 25))
