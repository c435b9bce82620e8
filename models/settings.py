"""One settings object, read from the environment (and an optional ``.env`` file)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/wft"
    redis_url: str = "redis://127.0.0.1:6379/0"
    celery_broker_url: str | None = None
    celery_result_backend: str | None = None

    # API
    wft_public_url: str = Field("http://127.0.0.1:8000", description="base URL clients reach the API at; upload URLs are built on it")
    wft_secret_key: str = Field("dev-insecure-change-me", description="signs short-lived upload tokens")
    wft_max_file_bytes: int = 20 * 1024 * 1024
    wft_upload_token_ttl_s: int = 900
    wft_idempotency_ttl_s: int = 24 * 3600

    # Execution
    wft_provider: str = "simulated"  # simulated | openai
    wft_sim_latency_ms: int = 0  # default simulated provider latency per call (block config may override)
    wft_sim_noise: float = 0.0  # default probability a simulated sub-call perturbs a value
    wft_max_attempts: int = 3  # claims of one test before it ends as error
    wft_test_lease_s: int = 120  # a running claim older than this may be taken over by a redelivery
    wft_block_call_retries: int = 2
    wft_block_call_soft_limit_s: int = 120
    wft_run_test_soft_limit_s: int = 180
    wft_run_deadline_s: int = 6 * 3600
    wft_pending_timeout_s: int = 120  # a run still pending this long gets its fan-out re-sent
    wft_stall_timeout_s: int = 120  # a running run with no progress this long gets its stuck tests re-sent
    wft_reaper_interval_s: float = 30.0
    wft_visibility_timeout_s: int = 3600
    wft_unacked_restore_interval_s: float = 10.0
    wft_unacked_restore_throttle: int = 10
    wft_rate_limit_rps: float = 0.0  # global provider requests/s across all workers; 0 = unlimited
    wft_metrics_port: int | None = None  # a worker serves its Prometheus metrics here (None: not served)

    # Function blocks
    wft_function_timeout_s: float = 10.0
    wft_function_memory_mb: int = 512

    # OpenAI-compatible provider
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: str = ""
    openai_model: str = "gpt-4o-mini"
    openai_judge_model: str | None = None
    openai_embedding_model: str | None = None
    openai_timeout_s: float = 60.0
    openai_max_retries: int = 4

    @property
    def broker_url(self) -> str:
        return self.celery_broker_url or self.redis_url

    @property
    def result_backend(self) -> str:
        return self.celery_result_backend or self.redis_url


@lru_cache
def get_settings() -> Settings:
    return Settings()
