"""Reading a request body with a ceiling, before anything parses it.

Every channel route reads its body through `read_capped`: 413 as soon as the declared length,
or the bytes actually received (a client may declare none), pass the route's ceiling, so no
request can make Settle hold an arbitrarily large body.
"""

from __future__ import annotations

from fastapi import HTTPException, Request


async def read_capped(request: Request, limit: int) -> bytes:
    """The body, up to `limit` bytes; 413 beyond that."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"request body larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"request body larger than {limit} bytes")
    return bytes(body)
