"""How command-line tools ask the running server (`callcenter serve`): JSON with [http] api_token, the
secret of this machine's API client ("cli", auth/clients.py)."""
from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request

from .config import Config


class ServerUnreachable(Exception):
    """No answer from the server at all (not running, wrong host or port)."""


def base_url(cfg: Config) -> str:
    return f"http://{cfg.http.host}:{cfg.http.port}"


def post(cfg: Config, path: str, body: dict, *, timeout: float = 10) -> int:
    """POST `body` to `path` on the configured server; print the answer, or why there was none.
    Returns the exit code."""
    request = _request(cfg, path, method="POST", data=json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            print(response.read().decode())
    except urllib.error.HTTPError as exc:
        print(f"error: {exc.code} {exc.read().decode()}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"error: the server at {request.full_url} did not answer: {exc.reason}", file=sys.stderr)
        return 1
    return 0


def get(cfg: Config, path: str, params: dict[str, str] | None = None, *,
        timeout: float = 10) -> tuple[int, dict]:
    """GET `path` on the configured server: its status and JSON answer. ServerUnreachable if none came."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    request = _request(cfg, path + query, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
    except (urllib.error.URLError, TimeoutError) as exc:
        raise ServerUnreachable(f"the server at {request.full_url} did not answer: "
                                f"{getattr(exc, 'reason', exc)}") from None


def _request(cfg: Config, path: str, *, method: str, data: bytes | None = None) -> urllib.request.Request:
    headers = {"Authorization": f"Bearer {cfg.http.api_token}"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    return urllib.request.Request(base_url(cfg) + path, data=data, method=method, headers=headers)
