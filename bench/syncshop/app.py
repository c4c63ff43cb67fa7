"""The order service as the synchronous tutorial writes it: the baseline of `make bench`.

Flask under gunicorn sync workers (one request at a time per process), `requests` to call
inventory and pricing one after the other, SQLAlchemy on psycopg 3 (a blocking driver).
Everything else is kept equal so the comparison measures the design, not the shortcuts: the
same tables (order.models, migrated by `shopctl db upgrade`), the same SQL statements run the
same way (Core, one-statement work in autocommit), the same Idempotency-Key claim and
compensation, the same pydantic validation and response bodies, the same access tokens
(the customer's verified with PyJWT's own sync PyJWKClient, the order service's own for
inventory and pricing by client credentials), and the same OpenTelemetry set-up (OTEL_*
variables, server, client and database spans).

Run: gunicorn --workers 5 'bench.syncshop.app:create_app()' with the order service's env.
"""

import json
import os
import time
import uuid
from decimal import Decimal
from typing import Any

import jwt
import requests
from flask import Flask, Response, request
from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from pydantic import ValidationError
from sqlalchemy import create_engine, delete, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, selectinload, sessionmaker

from order.claims import CLAIM_KEY, PERSIST_ORDER, Claim, claim_parameters, persist_parameters
from order.models import ClaimState, IdempotencyRecord, Order
from order.placement import order_from_quote
from order.reading import CUSTOMER_ORDER_WITH_LINES, order_detail
from order.schemas import NewOrder, OrderOut, OrderRequest
from order.settings import OrderSettings
from pricing.contract import Quote
from shopkit.db import discard_closed

tracer = trace.get_tracer(__name__)


class DependencyFailed(Exception):
    pass


def create_app() -> Flask:
    """Called by gunicorn in each worker after the fork, so each has its own pools and threads."""
    settings = OrderSettings()
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=False,  # as the async services (shopkit.db): no round trip per checkout
    )
    event.listen(engine, "checkout", discard_closed)
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")  # as shopkit.db.Database
    sessions = sessionmaker(engine, expire_on_commit=False)
    http = requests.Session()
    timeout = (settings.http_connect_timeout_seconds, settings.http_timeout_seconds)
    app = Flask("order-sync")
    _setup_telemetry(app, engine)
    issuer = settings.oidc_issuer.rstrip("/")
    discovery = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=5).json()
    keys = jwt.PyJWKClient(discovery["jwks_uri"], cache_keys=True)
    assert settings.oidc_client_secret is not None
    client = (settings.oidc_client_id, settings.oidc_client_secret.get_secret_value())
    own_tokens: dict[str, tuple[str, float]] = {}

    def customer() -> str | None:
        """The verified customer of this request, as the async service's dependency does."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            key = keys.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],
                audience=settings.oidc_audience,
                issuer=issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError:
            return None
        granted = str(claims.get("scope", "")).split()
        return str(claims["sub"]) if settings.oidc_customer_scope in granted else None

    def own_token(audience: str) -> dict[str, str]:
        token, expires_at = own_tokens.get(audience, ("", 0.0))
        if time.monotonic() >= expires_at - 60:
            granted = http.post(
                discovery["token_endpoint"],
                data={"grant_type": "client_credentials", "audience": audience},
                auth=client,
                timeout=timeout,
            ).json()
            token, expires_at = granted["access_token"], time.monotonic() + granted["expires_in"]
            own_tokens[audience] = (token, expires_at)
        return {"Authorization": f"Bearer {token}"}

    def call(method: str, url: str, audience: str, **kwargs: Any) -> requests.Response:
        try:
            headers = own_token(audience)
            response = http.request(method, url, timeout=timeout, headers=headers, **kwargs)
        except requests.RequestException as exc:
            raise DependencyFailed(str(exc)) from exc
        if response.status_code >= 400:
            raise DependencyFailed(f"{url} answered {response.status_code}")
        return response

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/orders")
    def place_order() -> Response:
        key = request.headers.get("Idempotency-Key", "")
        customer_id = customer()
        if customer_id is None:
            return _problem(401, "an access token of a customer is needed")
        try:
            new = NewOrder.model_validate_json(request.get_data())
        except ValidationError as exc:
            return _problem(422, exc.json())
        body = OrderRequest.model_construct(customer_id=customer_id, items=new.items)
        if not key:
            return _problem(422, "Idempotency-Key header missing")
        items = [item.model_dump() for item in body.items]
        claimed = _claim(autocommit, sessions, key, body)
        if isinstance(claimed, Order):
            return _json(OrderOut.model_validate(claimed).model_dump_json(), 201)
        if claimed is None:
            return _problem(409, "a request with this Idempotency-Key is in progress")
        order_id = claimed
        reserved = False
        try:
            # One call after the other: a sync worker can wait for only one thing at a time.
            quoted = call(
                "POST", f"{settings.pricing_url}/quotes", "pricing", json={"items": items}
            )
            quote = Quote.model_validate_json(quoted.content)
            call(
                "POST",
                f"{settings.inventory_url}/reservations",
                "inventory",
                json={"order_id": str(order_id), "items": items},
            )
            reserved = True
            with tracer.start_as_current_span("persist-order"):
                order = order_from_quote(order_id, body, quote)
                with autocommit.connect() as connection:
                    created_at = connection.scalar(
                        PERSIST_ORDER,
                        persist_parameters(Claim(body.customer_id, key, order_id, 1), order),
                    )
                order.created_at = created_at
        except Exception:
            with tracer.start_as_current_span("compensate-order"):
                if reserved:
                    http.delete(
                        f"{settings.inventory_url}/reservations/{order_id}",
                        headers=own_token("inventory"),
                    )
                with autocommit.connect() as connection:
                    connection.execute(
                        delete(IdempotencyRecord).where(
                            IdempotencyRecord.customer_id == body.customer_id,
                            IdempotencyRecord.key == key,
                            IdempotencyRecord.state == ClaimState.IN_PROGRESS,
                        )
                    )
            return _problem(503, "a dependency failed")
        response = _json(OrderOut.model_validate(order).model_dump_json(), 201)
        response.headers["Location"] = f"/orders/{order.id}"
        return response

    @app.get("/orders/<uuid:order_id>")
    def get_order(order_id: uuid.UUID) -> Response:
        customer_id = customer()
        if customer_id is None:
            return _problem(401, "an access token of a customer is needed")
        # The async service's statement, in autocommit as there (one statement, no BEGIN).
        parameters = {"order_id": order_id, "customer_id": customer_id}
        with autocommit.connect() as connection:
            rows = list(connection.execute(CUSTOMER_ORDER_WITH_LINES, parameters))
        if not rows:
            return _problem(404, f"no order {order_id}")
        skus = [("sku", row.sku) for row in rows]
        try:
            stock = call("GET", f"{settings.inventory_url}/stock", "inventory", params=skus).json()
            prices = call("GET", f"{settings.pricing_url}/prices", "pricing", params=skus).json()
        except DependencyFailed:
            return _problem(503, "a dependency failed")
        available = {item["sku"]: item["available"] for item in stock["items"]}
        unit_prices = {item["sku"]: Decimal(item["unit_price"]) for item in prices["items"]}
        return _json(order_detail(rows, available, unit_prices).model_dump_json(), 200)

    return app


def _claim(
    autocommit: Engine, sessions: sessionmaker[Session], key: str, body: OrderRequest
) -> uuid.UUID | Order | None:
    """The new order's id, the finished order of a replay, or None while another request runs."""
    with tracer.start_as_current_span("claim-idempotency-key"):
        with autocommit.connect() as connection:
            claimed: uuid.UUID | None = connection.scalar(CLAIM_KEY, claim_parameters(key, body))
        if claimed is not None:
            return claimed
        with sessions() as session, session.begin():
            record = session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.customer_id == body.customer_id, IdempotencyRecord.key == key
                )
            )
            if record is None or record.state != ClaimState.COMPLETED:
                return None
            return session.scalar(
                select(Order).where(Order.id == record.order_id).options(selectinload(Order.lines))
            )


def _json(body: str, status: int) -> Response:
    return Response(body, status=status, mimetype="application/json")


def _problem(status: int, detail: str) -> Response:
    body = json.dumps({"status": status, "detail": detail})
    return Response(body, status=status, mimetype="application/problem+json")


def _setup_telemetry(app: Flask, engine: Any) -> None:
    """What shopkit.telemetry does for the async services, with the sync instrumentations."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http,database")
    resource = Resource.create(
        {
            "service.name": "order-service",
            "service.namespace": "shop",
            "service.instance.id": str(uuid.uuid4()),
            "deployment.environment.name": "local",
        }
    ).merge(OTELResourceDetector().detect())
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    meter_provider = MeterProvider(
        resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())]
    )
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(meter_provider)
    FlaskInstrumentor().instrument_app(  # type: ignore[no-untyped-call]
        app,
        excluded_urls="healthz,readyz",
        tracer_provider=provider,
        meter_provider=meter_provider,
    )
    RequestsInstrumentor().instrument(tracer_provider=provider, meter_provider=meter_provider)
    SQLAlchemyInstrumentor().instrument(
        engine=engine,
        tracer_provider=provider,
        meter_provider=meter_provider,
        enable_commenter=False,
    )
    unwrap(Engine, "connect")  # no "connect" span per pool checkout, as in shopkit.telemetry
