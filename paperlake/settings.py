"""Every setting of paperlake in one place: environment variables with a PAPERLAKE_ prefix.

Per-run knobs (ids, chunk sizes, force) are flow parameters instead; these are the
machine's and the user's standing choices. Importing this module must stay cheap
(no Prefect, no llama-index): the CLI's quick paths load it.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from paperlake.errors import ConfigError, NoJudgeError

# Names that select the offline implementations; any other name selects OpenAI.
LOCAL_EMBED_MODELS = ("wordllama",)
LOCAL_LLM_MODELS = ("local-extractive",)
OPENAI_API_URL = "https://api.openai.com/v1"
NO_JUDGE_MESSAGE = "no judge model configured (PAPERLAKE_JUDGE_MODEL): set it, with PAPERLAKE_JUDGE_API_KEY, to evaluate answer safety"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAPERLAKE_", extra="ignore", frozen=True)

    data_dir: Path = Field(Path("data"), description="Where the lake (catalog, Parquet, caches, PDFs) lives.")
    snapshot_retention_days: float = Field(
        7.0, gt=0, description="Lake snapshots younger than this stay queryable by time travel; `maintain` expires older ones."
    )
    arxiv_url: str = Field("https://export.arxiv.org", description="arXiv export host (API and PDFs).")
    arxiv_delay: float = Field(3.0, ge=0, description="Seconds between arXiv requests, across the run.")
    embed_model: str = Field("wordllama", description="`wordllama` (offline) or an OpenAI embedding model.")
    embed_batch_size: int = Field(128, ge=1, description="Texts per embedding request.")
    embed_provider: Literal["auto", "local", "openai"] = Field(
        "auto", description="`openai` forces an OpenAI-compatible server for any embedding model name."
    )
    # None: recognised from the model name (e5, nomic-embed-text, bge); "" means no prefix.
    embed_query_prefix: str | None = Field(None, description="Prepended to every search query before embedding.")
    embed_document_prefix: str | None = Field(None, description="Prepended to every stored text before embedding.")
    llm_model: str = Field("local-extractive", description="`local-extractive` (offline) or an OpenAI model.")
    llm_provider: Literal["auto", "local", "openai"] = Field(
        "auto", description="`openai` forces an OpenAI-compatible server for any model name."
    )
    llm_concurrency: int = Field(16, ge=1, description="LLM requests in flight at most.")
    llm_rpm: int | None = Field(None, ge=1, description="Optional cap on LLM requests per minute.")
    llm_timeout: float = Field(60.0, gt=0, description="Seconds per LLM request before it is retried.")
    llm_max_attempts: int = Field(5, ge=1, description="Attempts per LLM request within one run.")
    pdf_engine: Literal["pypdfium2", "pypdf"] = Field("pypdfium2", description="Text extraction engine.")
    max_pdf_mb: float = Field(50.0, gt=0, description="Largest PDF accepted, in MB.")
    max_pages: int = Field(600, ge=1, description="Most pages accepted in one PDF.")
    parse_timeout: float = Field(120.0, gt=0, description="Wall-clock seconds to parse and chunk one PDF.")
    parse_memory_mb: int = Field(3072, ge=256, description="Address-space cap of the parser process, in MB.")
    http_timeout: float = Field(30.0, gt=0, description="Seconds per arXiv HTTP request (connect/read).")
    http_max_attempts: int = Field(5, ge=1, description="Attempts per arXiv request on 429/5xx/timeouts.")
    retry_after_cap: float = Field(120.0, ge=0, description="Longest Retry-After honoured, in seconds.")
    workers: int = Field(2, ge=1, description="Papers processed at once (parse and chunk run in child processes).")

    openai_api_key: SecretStr | None = Field(None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")

    # The safety evaluation's judge: its own endpoint and key, so a judge server (e.g. one hosting Safety
    # LLaMA) never receives the answering model's OPENAI_API_KEY, nor the answering server the judge's key.
    judge_model: str | None = Field(None, description="Chat model that judges answers in `evaluate-safety`; unset: no judge.")
    judge_base_url: str | None = Field(None, description="The judge's OpenAI-compatible base URL (default: OpenAI's API).")
    judge_api_key: SecretStr | None = Field(None, description="The judge's API key (never logged, stored or shown).")

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # Resolved once, so every process and the DuckDB views agree on one location.
        return value.expanduser().resolve()

    @field_validator("judge_model", "judge_base_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        # `PAPERLAKE_JUDGE_MODEL=` in an env file means "no judge", not a model named "".
        return (value.strip() or None) if value is not None else None

    @field_validator("arxiv_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @cached_property
    def embed_is_local(self) -> bool:
        if self.embed_provider != "auto":
            return self.embed_provider == "local"
        return self.embed_model in LOCAL_EMBED_MODELS

    @cached_property
    def llm_is_local(self) -> bool:
        if self.llm_provider != "auto":
            return self.llm_provider == "local"
        return self.llm_model in LOCAL_LLM_MODELS

    def require_openai_key(self, what: str) -> str:
        """The API key, or a clear error naming the variable that is missing."""
        if self.openai_api_key is None or not self.openai_api_key.get_secret_value().strip():
            raise ConfigError(f"{what} uses OpenAI, which needs OPENAI_API_KEY to be set.")
        return self.openai_api_key.get_secret_value()

    def check_providers(self, *, llm: bool) -> None:
        """Fail before any work when a configured OpenAI model has no key (embeddings, and the LLM if used)."""
        if not self.embed_is_local:
            self.require_openai_key(f"PAPERLAKE_EMBED_MODEL={self.embed_model}")
        elif self.embed_model not in LOCAL_EMBED_MODELS:  # the local provider has one model; never a silent swap
            raise ConfigError(f"PAPERLAKE_EMBED_PROVIDER=local serves only {', '.join(LOCAL_EMBED_MODELS)}, "
                              f"not PAPERLAKE_EMBED_MODEL={self.embed_model}.")  # fmt: skip
        if llm and not self.llm_is_local:
            self.require_openai_key(f"PAPERLAKE_LLM_MODEL={self.llm_model}")

    def require_judge(self) -> tuple[str, str, str]:
        """(model, base URL, API key) of the safety judge; `NoJudgeError` / `ConfigError` naming the variable."""
        if self.judge_model is None:
            raise NoJudgeError(NO_JUDGE_MESSAGE)
        if self.judge_api_key is None or not self.judge_api_key.get_secret_value().strip():
            raise ConfigError(f"PAPERLAKE_JUDGE_MODEL={self.judge_model} needs PAPERLAKE_JUDGE_API_KEY "
                              "(any non-empty value for a server that checks none).")  # fmt: skip
        # Explicit, so the SDK never falls back to OPENAI_BASE_URL and sends the judge's key to the answering server.
        return self.judge_model, (self.judge_base_url or OPENAI_API_URL).rstrip("/"), self.judge_api_key.get_secret_value()

    def secret_values(self) -> list[str]:
        """Every secret these settings hold, for log redaction."""
        return [key.get_secret_value() for key in (self.openai_api_key, self.judge_api_key) if key is not None]

    @property
    def max_pdf_bytes(self) -> int:
        return int(self.max_pdf_mb * 1024 * 1024)


def load_settings() -> Settings:
    return Settings()


def workers_for_flows() -> int:
    """Papers at once, for a flow's task runner, which Prefect fixes when the module is imported.

    A bad PAPERLAKE_* variable must not break importing a deployment's entrypoint (deploy, a
    worker): the default applies here and the run itself then names the bad setting."""
    try:
        return Settings().workers
    except ValidationError:
        return Settings.model_fields["workers"].default
