"""python3 cookie_client.py URL COOKIE EXPECT

Python's websockets opens URL with the given Cookie header. EXPECT 101:
the upgrade succeeds and a message echoes; any other number: the
handshake is refused with that HTTP status. Exits 0 on success, 1 with a
message.
"""

from wsclient import expect_upgrade, header_kw, run


async def main(url, cookie, expect):
    await expect_upgrade(url, expect, **header_kw({"Cookie": cookie}))
    print("ok: %s -> %d" % (cookie, expect))


if __name__ == "__main__":
    run("cookie_client.py", ["URL", "COOKIE", "EXPECT"], main)
