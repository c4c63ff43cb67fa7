"""The two fan-outs order's domain is given: both calls to the end, failures returned."""

import asyncio

import pytest

from order.fanout import FanOut, concurrently, one_after_another


async def _call(log: list[str], name: str, fail: bool = False) -> str:
    log.append(f"{name} starts")
    await asyncio.sleep(0.01)
    log.append(f"{name} ends")
    if fail:
        raise LookupError(name)
    return name


async def test_concurrently_starts_both_before_either_ends() -> None:
    log: list[str] = []
    quote, reserved = await concurrently(_call(log, "quote"), _call(log, "reserve"))
    assert (quote, reserved) == ("quote", "reserve")
    assert log[:2] == ["quote starts", "reserve starts"]


async def test_one_after_another_starts_the_second_when_the_first_has_ended() -> None:
    log: list[str] = []
    await one_after_another(_call(log, "quote"), _call(log, "reserve"))
    assert log == ["quote starts", "quote ends", "reserve starts", "reserve ends"]


@pytest.mark.parametrize("fan_out", [concurrently, one_after_another])
async def test_a_failure_is_returned_and_the_other_call_still_runs(fan_out: FanOut) -> None:
    log: list[str] = []
    quote, reserved = await fan_out(_call(log, "quote", fail=True), _call(log, "reserve"))
    assert isinstance(quote, LookupError)
    assert reserved == "reserve"
    assert log.count("reserve ends") == 1
