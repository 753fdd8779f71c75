"""Small helpers shared by the SDK's tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(condition: Callable[[], bool], *, within: float = 5.0) -> None:
    """Wait (bounded) until ``condition()`` holds, checking every few milliseconds."""
    step = 0.002
    for _ in range(int(within / step)):
        if condition():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"condition not met within {within} s")
