"""What the Python client scripts share: failing with a message, the
status of a refused handshake and extra request headers across the
releases of websockets that Debian and pip ship."""

import inspect
import os
import sys

import websockets


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
