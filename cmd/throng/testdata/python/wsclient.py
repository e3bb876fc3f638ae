"""What the Python client scripts share: failing with a message, the
status of a refused handshake and extra request headers across the
releases of websockets that Debian and pip ship, and the expected
upgrade-or-refusal check itself."""

import asyncio
import inspect
import os
import sys

import websockets
import websockets.exceptions as wse


def fail(msg):
    print("%s: FAIL: %s" % (os.path.basename(sys.argv[0]), msg), file=sys.stderr)
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


async def expect_upgrade(url, expect, check=None, **connect_kw):
    """Opens url with connect_kw. EXPECT 101: the upgrade must succeed,
    check(ws) (if given) pass and a message echo; any other number: the
    handshake must be refused with that HTTP status."""
    try:
        async with websockets.connect(url, open_timeout=10, **connect_kw) as ws:
            if expect != 101:
                fail("upgrade succeeded, want %d" % expect)
            if check is not None:
                await check(ws)
            await ws.send("hello")
            echo = await asyncio.wait_for(ws.recv(), 10)
            if echo != "hello":
                fail("echo %r" % echo)
            await ws.close(code=1000)
    except (getattr(wse, "InvalidStatus", ()), getattr(wse, "InvalidStatusCode", ())) as exc:
        got = refused_status(exc)
        if got != expect:
            fail("refused with %s, want %d" % (got, expect))


def run(name, usage_args, main):
    """Runs main(*argv[1:]) with EXPECT (the last argument) as an int,
    bounded to 25 s, after checking the argument count."""
    if len(sys.argv) != len(usage_args) + 1:
        fail("usage: %s %s" % (name, " ".join(usage_args)))
    args = sys.argv[1:-1] + [int(sys.argv[-1])]
    asyncio.run(asyncio.wait_for(main(*args), 25))
