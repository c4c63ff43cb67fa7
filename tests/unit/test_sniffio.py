"""httpcore must not retry a failed `import sniffio` on every lock (encode/httpcore#1103).

httpcore asks sniffio which event loop runs, with an `import sniffio` inside the function,
on every lock, event and semaphore it creates: several per request. anyio >= 4.12 stopped
depending on sniffio, and Python does not cache a failed import, so without sniffio each
call searched every `sys.path` entry again (12% of the order service's CPU). The project
depends on sniffio directly; this test fails if the import starts failing again.
"""

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

from httpcore._synchronization import current_async_library

CALLS = 200


class _CountingFinder(importlib.abc.MetaPathFinder):
    """Counts how often the import system searches for sniffio; finds nothing itself."""

    def __init__(self) -> None:
        self.searches = 0

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "sniffio":
            self.searches += 1
        return None


async def test_httpcore_finds_sniffio_without_searching_the_path_again() -> None:
    current_async_library()  # the first call may import it
    finder = _CountingFinder()
    sys.meta_path.insert(0, finder)
    try:
        for _ in range(CALLS):
            assert current_async_library() == "asyncio"
    finally:
        sys.meta_path.remove(finder)
    # Imported once, sniffio is in sys.modules and no finder is asked again; a failed
    # import asks every finder on every call (CALLS searches).
    assert finder.searches == 0, f"{finder.searches} searches for sniffio in {CALLS} calls"
