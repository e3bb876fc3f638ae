"""python3 origin_client.py URL ORIGIN EXPECT

Python's websockets opens URL with the given Origin header. EXPECT 101:
the upgrade succeeds and a message echoes; any other number: the
handshake is refused with that HTTP status. Exits 0 on success, 1 with a
message.
"""

from wsclient import expect_upgrade, run


async def main(url, origin, expect):
    await expect_upgrade(url, expect, origin=origin)
    print("ok: %s -> %d" % (origin, expect))


if __name__ == "__main__":
    run("origin_client.py", ["URL", "ORIGIN", "EXPECT"], main)
