"""Docker HEALTHCHECK: healthy when the lineinspect HTTP API answers 200.

HEALTHCHECK_URL names the URL; without it the edge's /health on 8080 and then the cloud
API's /healthz on 8090 are tried, so the same image needs no setting for either role.
Standard library only: it runs with the system Python, outside the venv.
"""

import os
import sys
import urllib.request

DEFAULT_URLS = ("http://127.0.0.1:8080/health", "http://127.0.0.1:8090/healthz")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=4) as resp:
            return resp.status == 200
    except OSError:
        return False


def main() -> int:
    env = os.environ.get("HEALTHCHECK_URL")
    urls = (env,) if env else DEFAULT_URLS
    return 0 if any(answers(url) for url in urls) else 1


if __name__ == "__main__":
    sys.exit(main())
