"""uvicorn's access log, when someone turns it on, logs paths without their query strings."""

import json
from pathlib import Path

import httpx

from devtools.stack.processes import wait_for
from devtools.stack.services import Services, uvicorn_command
from tests.support.shop import as_customer


def test_the_access_log_has_no_query_strings(services: Services, logs_dir: Path) -> None:
    logged = Services.on_free_ports(
        services.database_url, services.provider, logs_dir / "access-log"
    )
    logged.ports = {**services.ports, "order": logged.ports["order"]}
    command = [
        arg for arg in uvicorn_command("order", logged.ports["order"]) if arg != "--no-access-log"
    ]
    logged.launch("order", command)
    try:
        logged.wait_healthy("order")
        customer = "access-log-customer-42"
        # A customer may name themselves in the query (anyone else: 403).
        listed = httpx.get(
            f"{logged.order_url}/orders?customer_id={customer}&limit=1",
            headers=as_customer(logged, customer),
            timeout=30,
        )
        assert listed.status_code == 200, listed.text

        log = logs_dir / "access-log" / "order.log"
        line = wait_for(
            "the access log line of GET /orders",
            lambda: next((x for x in log.read_text().splitlines() if "GET /orders" in x), None),
        )
    finally:
        logged.stop()

    assert json.loads(line)["message"].endswith('"GET /orders HTTP/1.1" 200'), line
    assert customer not in log.read_text()
