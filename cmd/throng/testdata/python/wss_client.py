"""python3 wss_client.py HOST:PORT CA.pem VERSION

Python's websockets (its TLS is the ssl module, OpenSSL) through throng to
the echo backend over wss, with TLS pinned to VERSION ("1.2" or "1.3") and
the certificate verified against the test CA for "localhost": text and
binary messages up to 1 MiB come back byte-exact and the close handshake
completes. Exits 0 on success, 1 with a message.
"""

import asyncio
import os
import ssl
import sys

import websockets


def fail(msg):
    print("wss_client.py: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


async def main(addr, ca, version):
    ctx = ssl.create_default_context(cafile=ca)
    v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ctx.maximum_version = v
    host, port = addr.rsplit(":", 1)
    async with websockets.connect(
        "wss://localhost:%s/" % port,
        ssl=ctx,
        host=host,
        server_hostname="localhost",
        max_size=None,
        open_timeout=10,
    ) as ws:
        got = ws.transport.get_extra_info("ssl_object").version()
        want = "TLSv1.3" if version == "1.3" else "TLSv1.2"
        if got != want:
            fail("negotiated %s, want %s" % (got, want))
        for n in (0, 1, 125, 126, 16384, 16385, 65536, 1 << 20):
            for msg in ("y" * n, os.urandom(n)):
                await ws.send(msg)
                echo = await asyncio.wait_for(ws.recv(), 20)
                if echo != msg:
                    fail("size %d %s: echo differs" % (n, type(msg).__name__))
        await ws.close(code=1000)
        if ws.close_code != 1000:
            fail("close code %s" % ws.close_code)
    print("ok: %s" % want)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        fail("usage: wss_client.py HOST:PORT CA.pem VERSION")
    asyncio.run(asyncio.wait_for(main(*sys.argv[1:]), 50))
