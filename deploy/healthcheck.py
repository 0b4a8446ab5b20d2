"""The image's HEALTHCHECK: exit 0 when the gateway in this container answers `GET /healthz` with 200, else 1.

The slim base image has no curl; this asks loopback on POLICYARC_PORT (the gateway binds 0.0.0.0 there) with the
standard library only. `/healthz` says the process serves HTTP; Kubernetes also asks `/readyz` (store and policy).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    port = os.environ.get("POLICYARC_PORT", "8000")
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:  # refused, timed out: not serving
        print(f"health check: {url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"health check: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
