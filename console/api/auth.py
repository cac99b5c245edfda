"""Bearer-token authentication for machine clients of `/api`."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from fastapi import HTTPException, Request, status


def bearer_token_guard(token: str | None) -> Callable[[Request], None]:
    """A dependency that lets a request through only with `Authorization: Bearer <token>`."""

    def require_token(request: Request) -> None:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if token is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "the API is disabled: set SETTLE_API_TOKEN",
                headers={"WWW-Authenticate": "Bearer"},
            )
        valid = scheme.lower() == "bearer" and secrets.compare_digest(
            presented.strip().encode(), token.encode()
        )
        if not valid:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return require_token
