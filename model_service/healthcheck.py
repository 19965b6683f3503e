"""Container HEALTHCHECK: exit 0 if `GET /ping` on the local server answers 200, else 1."""

from __future__ import annotations

import os
import sys
from urllib.error import URLError
from urllib.request import urlopen


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8080')}/ping"
    try:
        with urlopen(url, timeout=2) as response:
            return 0 if response.status == 200 else 1
    except (URLError, OSError) as error:
        print(f"unhealthy: {url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
