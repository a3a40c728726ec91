from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from paperlake.retrying import (
    async_retrying,
    is_transient,
    parse_retry_after,
    retry_after_seconds,
    retrying,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def status_error(status: int, headers: dict[str, str] | None = None) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://127.0.0.1/x")
    response = httpx.Response(status, headers=headers, request=request)
    return httpx.HTTPStatusError(f"HTTP {status}", request=request, response=response)


class FakeSdkError(Exception):
    """Shaped like openai.APIStatusError: `.status_code` and a `.response` with `.headers`."""

    def __init__(self, status_code: int, headers: dict[str, str]) -> None:
        super().__init__(f"status {status_code}")
        self.status_code = status_code
        self.response = type("Response", (), {"headers": headers})()


class Flaky:
    """Raises the given exceptions in turn, then returns 'ok'; counts calls."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("5", 5.0), (" 0 ", 0.0), ("1.5", 1.5), ("-3", 0.0), ("soon", None), ("", None), ("nan", None)],
)
def test_parse_retry_after_seconds(value: str, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_parse_retry_after_http_date() -> None:
    later = format_datetime(NOW + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, NOW) == pytest.approx(30.0)
    earlier = format_datetime(NOW - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(earlier, NOW) == 0.0


def test_retry_after_found_on_httpx_and_sdk_shaped_errors() -> None:
    assert retry_after_seconds(status_error(429, {"Retry-After": "7"})) == 7.0
    assert retry_after_seconds(FakeSdkError(429, {"retry-after": "3"})) == 3.0
    assert retry_after_seconds(FakeSdkError(429, {"retry-after-ms": "250"})) == 0.25
    assert retry_after_seconds(status_error(503)) is None
    assert retry_after_seconds(httpx.ConnectError("refused")) is None
    assert retry_after_seconds(ValueError("no response")) is None


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (httpx.ConnectError("refused"), True),
        (httpx.ReadTimeout("slow"), True),
        (httpx.RemoteProtocolError("peer closed connection"), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (status_error(429), True),
        (status_error(500), True),
        (status_error(503), True),
        (status_error(404), False),
        (status_error(400), False),
        (FakeSdkError(529, {}), True),
        (FakeSdkError(401, {}), False),
        (httpx.UnsupportedProtocol("ftp"), False),
        (ValueError("bug"), False),
    ],
)
def test_is_transient(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_transient_errors_are_retried_until_success() -> None:
    flaky = Flaky(status_error(503), httpx.ReadTimeout("slow"))
    assert retrying(5, 10, base_delay=0.01, max_delay=0.02)(flaky) == "ok"
    assert flaky.calls == 3


def test_permanent_error_is_raised_at_once_unchanged() -> None:
    error = status_error(404)
    flaky = Flaky(error)
    with pytest.raises(httpx.HTTPStatusError) as caught:
        retrying(5, 10, base_delay=0.01)(flaky)
    assert caught.value is error and flaky.calls == 1


def test_exhausted_retries_reraise_the_last_error() -> None:
    flaky = Flaky(status_error(503), status_error(502), status_error(500))
    with pytest.raises(httpx.HTTPStatusError) as caught:
        retrying(3, 10, base_delay=0.01, max_delay=0.02)(flaky)
    assert caught.value.response.status_code == 500 and flaky.calls == 3


def test_retry_after_is_honoured() -> None:
    sleeps: list[float] = []
    flaky = Flaky(status_error(429, {"Retry-After": "2"}))
    assert retrying(3, 10, base_delay=0.01, sleep=sleeps.append)(flaky) == "ok"
    assert sleeps == [2.0]


def test_retry_after_above_cap_fails_fast() -> None:
    sleeps: list[float] = []
    flaky = Flaky(status_error(429, {"Retry-After": "3600"}))
    with pytest.raises(httpx.HTTPStatusError):
        retrying(5, 120, base_delay=0.01, sleep=sleeps.append)(flaky)
    assert flaky.calls == 1 and sleeps == []


def test_backoff_grows_and_is_capped_without_retry_after() -> None:
    sleeps: list[float] = []
    flaky = Flaky(*(status_error(503) for _ in range(5)))
    retrying(6, 10, base_delay=1.0, max_delay=5.0, sleep=sleeps.append)(flaky)
    assert 1.0 <= sleeps[0] <= 2.0 and 2.0 <= sleeps[1] <= 3.0
    assert max(sleeps) <= 5.0 and len(sleeps) == 5


def test_extra_transient_types() -> None:
    class SdkConnectionError(Exception):
        pass

    flaky = Flaky(SdkConnectionError())
    assert retrying(2, 10, base_delay=0.01, extra_transient=(SdkConnectionError,))(flaky) == "ok"


def test_async_flavour() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise FakeSdkError(429, {"retry-after-ms": "10"})
        return "ok"

    started = time.monotonic()
    assert asyncio.run(async_retrying(5, 1, base_delay=0.01)(flaky)) == "ok"
    assert calls == 3 and time.monotonic() - started >= 0.02
