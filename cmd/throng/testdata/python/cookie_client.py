"""python3 cookie_client.py URL COOKIE EXPECT

Python's websockets opens URL with the given Cookie header. EXPECT 101:
the upgrade succeeds and a message echoes; any other number: the
handshake is refused with that HTTP status. Exits 0 on success, 1 with a
message.
"""

import asyncio
import inspect
import sys

import websockets
import websockets.exceptions as wse


def fail(msg):
    print("cookie_client.py: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def refused_status(exc):
    # websockets >= 11 raises InvalidStatus (exc.response.status_code);
    # older releases InvalidStatusCode (exc.status_code).
    resp = getattr(exc, "response", None)
    if resp is not None:
        return resp.status_code
    return getattr(exc, "status_code", None)


def header_kw(headers):
    # websockets >= 14 names it additional_headers, older extra_headers.
    params = inspect.signature(websockets.connect).parameters
    if "additional_headers" in params:
        return {"additional_headers": headers}
    return {"extra_headers": headers}


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
