"""Admin routes: a bearer token from the environment, compared in constant time."""

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shopkit.problems import Problem

_bearer = HTTPBearer(auto_error=False, description="ADMIN_TOKEN from the environment")


async def require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    token = request.app.state.settings.admin_token
    presented = credentials.credentials if credentials else ""
    if token is None or not hmac.compare_digest(
        presented.encode(), token.get_secret_value().encode()
    ):
        raise Problem(
            401,
            "unauthorized",
            "Unauthorized",
            "admin routes need Authorization: Bearer <ADMIN_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )


AdminDep = Depends(require_admin)
