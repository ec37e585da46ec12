"""Failed logins are rate-limited per client address: after `max_failures` wrong passwords within
`window_s` seconds, that address gets HTTP 429 on the login route for `block_s` seconds (a correct
password included, so guessing cannot continue). Other addresses are not affected.

Pure ASGI middleware around the web app; it only looks at POST .../login and its response status.
The address is the TCP peer: behind a reverse proxy every user shares the proxy's address, so
limit there instead (X-Forwarded-For is not trusted, since any client can send it)."""
from __future__ import annotations

import json
import logging
import time
from collections import defaultdict, deque
from typing import Callable

log = logging.getLogger("app.login")

FAILED = {400, 401, 403}   # what the login route answers for wrong credentials


class LoginLimiter:
    """The bookkeeping, separate from HTTP so it can be tested with a fake clock."""

    def __init__(self, max_failures: int = 5, window_s: float = 60.0, block_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        self.max_failures, self.window_s, self.block_s, self.clock = max_failures, window_s, block_s, clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._blocked_until: dict[str, float] = {}

    def seconds_blocked(self, address: str) -> float:
        """0 if `address` may try to log in now, else how many seconds it must wait."""
        until = self._blocked_until.get(address, 0.0)
        left = until - self.clock()
        if left <= 0 and address in self._blocked_until:
            del self._blocked_until[address]
        return max(left, 0.0)

    def failed(self, address: str) -> None:
        now = self.clock()
        times = self._failures[address]
        times.append(now)
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if len(times) >= self.max_failures:
            self._blocked_until[address] = now + self.block_s
            times.clear()
            log.warning("Login blocked for %s for %.0f s after %d failed attempts", address, self.block_s,
                        self.max_failures)

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)


class LoginRateLimit:
    """ASGI middleware: Starlette's Middleware(LoginRateLimit, limiter=...) in the app's middleware."""

    def __init__(self, app, limiter: LoginLimiter | None = None):
        self.app = app
        self.limiter = limiter or LoginLimiter()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST" \
                or not scope.get("path", "").rstrip("/").endswith("/login"):
            return await self.app(scope, receive, send)
        address = (scope.get("client") or ("unknown",))[0]
        wait = self.limiter.seconds_blocked(address)
        if wait > 0:
            return await _too_many(send, wait)
        status: dict[str, int] = {}

        async def watch(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        if status.get("code") in FAILED:
            log.info("Failed login from %s", address)
            self.limiter.failed(address)
        elif status.get("code", 500) < 400:
            self.limiter.succeeded(address)


async def _too_many(send, wait: float) -> None:
    seconds = max(int(wait + 0.999), 1)
    body = json.dumps({"detail": f"Too many failed logins from this address; try again in {seconds} s."}).encode()
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", b"application/json"), (b"retry-after", str(seconds).encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
