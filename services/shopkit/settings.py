"""Environment-driven settings shared by every service; each service subclasses them."""

from typing import Annotated

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shopkit.scenarios import Switch, parse_states


class ServiceSettings(BaseSettings):
    """Read once at start-up from the environment; invalid values stop the process early."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    database_url: str = "postgresql+asyncpg://shop@127.0.0.1:5432/shop"
    # The most connections one process opens. A fixed pool, no overflow: an overflow
    # connection is closed when it is returned, so a load above the pool size opened a new
    # connection (TCP, authentication, type introspection, statement preparation) for many
    # requests; that was 13% of the order service's CPU under load (docs/benchmarks.md).
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=0, ge=0)
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    db_connect_timeout_seconds: float = Field(default=3.0, gt=0)
    db_statement_timeout_ms: int = Field(default=5000, ge=0)

    # The OpenID Connect provider whose access tokens the service accepts (shopkit/identity.py):
    # no default, so a service never starts without one. Its keys come from its discovery
    # document, unless OIDC_JWKS_URL names them. Each service accepts only tokens meant for it
    # (the `aud` claim: its name, unless OIDC_AUDIENCE says otherwise).
    oidc_issuer: str
    oidc_audience: str
    oidc_jwks_url: str | None = None
    oidc_leeway_seconds: float = Field(default=30.0, ge=0, le=300)
    # The scope a token needs for the admin routes (stock, prices, fault scenarios).
    oidc_admin_scope: str = Field(default="admin", min_length=1)
    # The subjects (the client ids of other services) whose business calls the service takes.
    oidc_trusted_callers: frozenset[str] = frozenset()

    # Fault scenarios switched on at start-up, as JSON; each validated by its own parameters
    # (shopkit/scenarios.py).
    scenarios: Annotated[dict[str, Switch], BeforeValidator(parse_states)] = Field(
        default_factory=dict
    )

    # Whether a caller's W3C trace context (traceparent, tracestate, baggage) is ours to continue.
    # Off for a public API: its callers get a new trace that links to theirs (shopkit/
    # trace_boundary.py). On behind a gateway that already starts traces of its own, and for
    # the services whose only caller is one of ours.
    trust_incoming_trace_context: bool = False
    # Admission control (shopkit/admission.py; the defaults' derivation: docs/overload.md):
    # business requests one process serves at once, how many more may wait for a turn, and
    # for how long. Off, every request is taken in however many there are (for measurements).
    admission_enabled: bool = True
    admission_max_in_flight: int = Field(default=8, ge=1)
    admission_max_queued: int = Field(default=8, ge=0)
    admission_queue_timeout_seconds: float = Field(default=0.5, gt=0)
    # The time budget of a request whose caller states none (the Request-Timeout-Ms header),
    # and the most a caller may ask for (shopkit/deadlines.py).
    request_timeout_seconds: float = Field(default=5.0, gt=0)

    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    log_level: str = "INFO"


class ClientSettings(BaseSettings):
    """Timeouts, retries and pool limits for calls to other services."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    http_connect_timeout_seconds: float = Field(default=1.0, gt=0)
    http_timeout_seconds: float = Field(default=5.0, gt=0)
    http_attempts: int = Field(default=3, ge=1, le=5)
    http_backoff_seconds: float = Field(default=0.05, ge=0)
    # The most calls in flight at once from one process; more wait up to the timeout for one.
    http_max_connections: int = Field(default=100, ge=1)
    # The retry budget of one process (shopkit/http.py, RetryBudget): retries may add this
    # share of its calls, plus a few per second, so that they never multiply an overload.
    http_retry_ratio: float = Field(default=0.2, ge=0)
    http_retries_per_second: float = Field(default=5.0, ge=0)
