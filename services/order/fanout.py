"""How the order service awaits two independent calls to other services.

The API layer picks the strategy per request: both at once, or one after the other when the
sequential-fanout scenario hits. The domain functions take the strategy, not a flag.
"""

import asyncio
from collections.abc import Awaitable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
U = TypeVar("U")


class FanOut(Protocol):
    """Await both calls to the end, even when one fails; failures are returned, not raised."""

    async def __call__(
        self, first: Awaitable[T], second: Awaitable[U]
    ) -> tuple[T | BaseException, U | BaseException]: ...


async def concurrently(
    first: Awaitable[T], second: Awaitable[U]
) -> tuple[T | BaseException, U | BaseException]:
    return await asyncio.gather(first, second, return_exceptions=True)


async def one_after_another(
    first: Awaitable[T], second: Awaitable[U]
) -> tuple[T | BaseException, U | BaseException]:
    """The sequential-fanout scenario: the second call starts when the first has ended."""
    results: list[Any] = []
    for call in (first, second):
        try:
            results.append(await call)
        except Exception as exc:
            results.append(exc)
    return results[0], results[1]
