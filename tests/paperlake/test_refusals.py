"""Refusals (401/403, 429 insufficient_quota) are never retried, and after a few nothing more is sent."""

from __future__ import annotations

import pytest

from paperlake.errors import PaperlakeError
from paperlake.llm_base import LLMRequestError
from paperlake.refusals import NOT_SENT, REFUSALS_BEFORE_STOP, ApiRefused, RefusalBreaker
from paperlake.retrying import is_refusal, is_transient


def answer(status: int, code: str | None = None) -> LLMRequestError:
    return LLMRequestError(status, f"APIStatusError: answered {status} to sk-canary-0123456789abcdef", {}, code)


@pytest.mark.parametrize(
    ("exc", "refusal", "transient"),
    [
        (answer(401), True, False),
        (answer(403), True, False),
        (answer(429, "insufficient_quota"), True, False),
        (answer(429, "rate_limit_exceeded"), False, True),  # a rate limit: wait and try again
        (answer(429), False, True),
        (answer(500), False, True),
        (answer(400), False, False),
        (ConnectionError("refused"), False, True),
    ],
)
def test_refusals_are_not_transient(exc: BaseException, refusal: bool, transient: bool) -> None:
    assert (is_refusal(exc), is_transient(exc)) == (refusal, transient)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_the_limit_names_the_first_refusal_and_closes_after_its_hold() -> None:
    clock = Clock()
    breaker = RefusalBreaker("the LLM API", hold_s=60.0, clock=clock)
    breaker.record(answer(500))  # not a refusal: not counted
    for _ in range(REFUSALS_BEFORE_STOP - 1):
        breaker.record(answer(401))
    breaker.check()  # still closed
    breaker.record(answer(401))
    with pytest.raises(ApiRefused) as raised:
        breaker.check()
    message = str(raised.value)
    assert message.startswith(f"{NOT_SENT} the LLM API refused {REFUSALS_BEFORE_STOP} requests")
    assert "HTTP 401" in message and "OPENAI_API_KEY" in message and "sk-canary" not in message
    assert isinstance(raised.value, PaperlakeError) and not is_transient(raised.value)

    clock.now = 59.0
    assert breaker.open
    clock.now = 60.0
    breaker.check()  # the hold is over: requests go out again (a topped-up quota is noticed)
    assert not breaker.open
