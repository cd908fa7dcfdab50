"""A thin JSON client over kubernetes_asyncio's authenticated HTTP session.

Why not the typed API classes: deserialising every ConfigMap and Secret into generated model
objects costs far more CPU and memory than the controller needs (it keeps a digest, not a
body), and the typed watch helper has pitfalls (silent reconnects, stale resourceVersions,
a 128 KiB line limit). So we reuse the library's configuration, TLS and auth, and speak plain
JSON: one code path for every kind, and explicit timeouts on every call.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient

JSONDict = dict[str, Any]
Query = Mapping[str, str | int | bool]

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=5)


class ApiError(Exception):
    """A non-2xx answer from the API server, with its Status reason and message."""

    def __init__(
        self, status: int, reason: str, message: str, causes: list[JSONDict] | None = None
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.causes = causes or []
        """The Status's ``details.causes``: one per invalid field, with its ``field`` path."""

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def gone(self) -> bool:
        return self.status == 410

    @property
    def retriable(self) -> bool:
        return self.status in (409, 429) or self.status >= 500


def _query(query: Query | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in (query or {}).items():
        out.append((key, ("true" if value else "false") if isinstance(value, bool) else str(value)))
    return out


async def _raise_for(resp: aiohttp.ClientResponse) -> None:
    if 200 <= resp.status < 300:
        return
    body = await resp.read()
    resp.release()
    reason, message = resp.reason or "", body.decode(errors="replace")[:500]
    causes: list[JSONDict] = []
    try:
        status = json.loads(body)
        reason, message = status.get("reason") or reason, status.get("message") or message
        found = (status.get("details") or {}).get("causes")
        causes = [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []
    except (ValueError, AttributeError):
        pass
    raise ApiError(resp.status, reason, message, causes)


class Rest:
    """JSON requests against the API server of one ``ApiClient``."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    async def _send(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: Any = None,
        content_type: str = "application/json",
        limits: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> aiohttp.ClientResponse:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        resp: aiohttp.ClientResponse = await self.api.call_api(
            path,
            method,
            query_params=_query(query),
            header_params=headers,
            body=body,  # the library serialises it for every JSON content type
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=limits,
        )
        await _raise_for(resp)
        return resp

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: Any = None,
        content_type: str = "application/json",
        limits: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> JSONDict:
        """Send one request and return its JSON answer; raises ``ApiError`` on non-2xx."""
        resp = await self._send(
            method, path, query=query, body=body, content_type=content_type, limits=limits
        )
        async with resp:
            answer: JSONDict = json.loads(await resp.read())
            return answer

    async def get(self, path: str, query: Query | None = None) -> JSONDict:
        return await self.request("GET", path, query=query)

    async def get_or_none(self, path: str) -> JSONDict | None:
        """The object at ``path``, or None when there is none (404)."""
        try:
            return await self.get(path)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def stream(
        self, path: str, query: Query, *, limits: aiohttp.ClientTimeout
    ) -> AsyncIterator[JSONDict]:
        """Yield the JSON objects of a watch stream, one per line, of any size."""
        resp = await self._send("GET", path, query=query, limits=limits)
        async with resp:
            pending = bytearray()
            async for chunk in resp.content.iter_any():
                pending += chunk
                if b"\n" not in chunk:
                    continue  # a large object arrives in many chunks: scan only when a line ends
                *lines, rest = bytes(pending).split(b"\n")
                pending = bytearray(rest)
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
            if pending.strip():
                yield json.loads(pending)
