"""The outcome comparison can fail: a changed value, message, attribute, type or cause is a
different outcome; only timings, dates and object addresses are ignored."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.in_flight import cancel_when, time_out_when, within
from tests.support.outcomes import normalise, outcome_of


class _Boom(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


async def _returning(value: Any) -> Any:
    return value


async def _raising(exc: BaseException) -> Any:
    raise exc


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (lambda: _returning({"hits": [1]}), lambda: _returning({"hits": [2]})),
        (lambda: _returning(1), lambda: _raising(_Boom("x", 1))),
        (lambda: _raising(_Boom("x", 1)), lambda: _raising(_Boom("y", 1))),
        (lambda: _raising(_Boom("x", 1)), lambda: _raising(_Boom("x", 2))),
        (lambda: _raising(_Boom("x", 1)), lambda: _raising(ValueError("x"))),
        (lambda: _raising(KeyError("x")), lambda: _raising(LookupError("x"))),
    ],
)
async def test_a_changed_value_message_attribute_or_type_is_a_different_outcome(
    left: Any, right: Any
) -> None:
    assert (await outcome_of(left)).picture != (await outcome_of(right)).picture


async def test_a_changed_cause_is_a_different_outcome() -> None:
    def chained(cause: BaseException) -> BaseException:
        exc = _Boom("x", 1)
        exc.__cause__ = cause
        return exc

    one = await outcome_of(lambda: _raising(chained(ValueError("a"))))
    other = await outcome_of(lambda: _raising(chained(ValueError("b"))))
    assert one.picture != other.picture


async def test_only_timings_dates_and_object_addresses_are_ignored() -> None:
    one = await outcome_of(lambda: _returning({"took": 3, "Date": "Mon", "at": "<x at 0x7f00aa>"}))
    other = await outcome_of(
        lambda: _returning({"took": 9, "Date": "Tue", "at": "<x at 0x7f00bb>"})
    )
    assert one.picture == other.picture
    changed = await outcome_of(lambda: _returning({"took": 9, "Date": "Tue", "at": "<y at 0x7f>"}))
    assert changed.picture != one.picture


def test_grpc_status_fields_compare_in_any_order_but_not_with_other_values() -> None:
    one = 'peer {grpc_status:14, grpc_message:"gone, really"}'
    other = 'peer {grpc_message:"gone, really", grpc_status:14}'
    assert normalise(one) == normalise(other)
    assert normalise(one) != normalise('peer {grpc_message:"gone, really", grpc_status:4}')


async def test_cancellation_and_timeouts_are_outcomes() -> None:
    never, in_flight = asyncio.Event(), asyncio.Event()
    in_flight.set()
    cancelled = await outcome_of(lambda: cancel_when(in_flight, never.wait()))
    assert cancelled.raised and isinstance(cancelled.value, asyncio.CancelledError)
    timed_out = await outcome_of(lambda: within(0.01, never.wait()))
    assert timed_out.raised and isinstance(timed_out.value, asyncio.TimeoutError)
    in_flight_timeout = await outcome_of(lambda: time_out_when(in_flight, never.wait()))
    assert in_flight_timeout.picture == timed_out.picture
