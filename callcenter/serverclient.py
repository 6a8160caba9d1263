"""How command-line tools ask the running server (`callcenter serve`) to act: a JSON POST with the API token."""
from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

from .config import Config


def post(cfg: Config, path: str, body: dict, *, timeout: float = 10) -> int:
    """POST `body` to `path` on the configured server; print the answer, or why there was none. The exit code."""
    url = f"http://{cfg.http.host}:{cfg.http.port}{path}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {cfg.http.api_token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            print(response.read().decode())
    except urllib.error.HTTPError as exc:
        print(f"error: {exc.code} {exc.read().decode()}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"error: the server at {url} did not answer: {exc.reason}", file=sys.stderr)
        return 1
    return 0
