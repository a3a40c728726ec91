from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from paperlake.redact import REDACTED, describe_error, install_log_redaction, one_line, redact
from paperlake.settings import Settings

SECRET = "sk-proj-Abc123_def-456ghi789"


@pytest.fixture
def restore_record_factory() -> Iterator[None]:
    original = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(original)


def test_redact_removes_configured_secret_and_key_shapes() -> None:
    text = f"key={SECRET} other=sk-live-12345678 masked=sk-abc***wxyz plain=hello"
    cleaned = redact(text, secrets=["not-key-shaped-secret", None])
    assert SECRET not in cleaned and "sk-live-12345678" not in cleaned and "sk-abc***wxyz" not in cleaned
    assert cleaned.count(REDACTED) == 3 and "plain=hello" in cleaned
    assert redact("token not-key-shaped-secret!", secrets=["not-key-shaped-secret"]) == f"token {REDACTED}!"


def test_short_secrets_and_short_sk_words_are_left_alone() -> None:
    # A 3-letter "secret" would shred ordinary text; "sk-learn" is a word, not a key.
    assert redact("the cat uses sk-learn", secrets=["cat"]) == "the cat uses sk-learn"


def test_one_line_and_describe_error_are_single_redacted_lines() -> None:
    assert one_line(f"first\n  second {SECRET}\n") == f"first second {REDACTED}"
    assert len(one_line("x" * 1000, limit=50)) == 50
    described = describe_error(ValueError(f"bad key\n{SECRET}"))
    assert described == f"ValueError: bad key {REDACTED}"


@pytest.mark.usefixtures("restore_record_factory")
def test_installed_redaction_scrubs_message_args_and_traceback(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(OPENAI_API_KEY="plain-secret-without-prefix")
    install_log_redaction(settings.secret_values())
    install_log_redaction(settings.secret_values())  # idempotent: wrapped once
    factory = logging.getLogRecordFactory()
    assert getattr(factory, "inner", None) is not None and not hasattr(factory.inner, "inner")

    logger = logging.getLogger("test.redact")
    with caplog.at_level(logging.DEBUG, logger="test.redact"):
        logger.debug("key is %s and %s", "plain-secret-without-prefix", SECRET)
        try:
            raise RuntimeError(f"server said {SECRET}")
        except RuntimeError:
            logger.exception("call failed for %(who)s", {"who": "plain-secret-without-prefix"})
    assert "plain-secret-without-prefix" not in caplog.text and SECRET not in caplog.text
    assert "key is [redacted] and [redacted]" in caplog.text
    assert "RuntimeError: server said [redacted]" in caplog.text  # the traceback is kept, scrubbed
    assert all(SECRET not in record.getMessage() for record in caplog.records)
