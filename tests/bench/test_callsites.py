"""`python -m bench.callsites`: a sample is charged to where telemetry was entered."""

from bench.callsites import by_call_site, call_site

SITE = "/v/lib/python3.11/site-packages"
STDLIB = "/usr/lib/python3.11"
UVICORN = f"run_asgi ({SITE}/uvicorn/protocols/http/httptools_impl.py:401)"
FASTAPI_TELEMETRY = f"__call__ ({SITE}/fastapi/telemetry/_asgi.py:240)"
HANDLER = "read_order (/w/services/order/api.py:30)"
EXECUTE = f"_exec_single_context ({SITE}/sqlalchemy/engine/base.py:1960)"
LISTENER = "_before (/w/services/shopkit/db_telemetry.py:200)"
START_SPAN = f"start_span ({SITE}/opentelemetry/sdk/trace/__init__.py:1100)"
CONTEXTVAR = f"get_current ({STDLIB}/contextvars.py:10)"


def test_work_under_a_telemetry_middleware_is_not_telemetry() -> None:
    # FastAPI's telemetry wraps the whole request: the handler's own work is not its cost.
    assert call_site([UVICORN, FASTAPI_TELEMETRY, HANDLER, EXECUTE]) == "(not telemetry)"


def test_a_sample_in_telemetry_is_charged_to_its_caller() -> None:
    stack = [UVICORN, FASTAPI_TELEMETRY, HANDLER, EXECUTE, LISTENER, START_SPAN, CONTEXTVAR]
    assert call_site(stack) == (
        "_exec_single_context (sqlalchemy/engine/base.py) -> _before (shopkit/db_telemetry.py)"
    )
    assert call_site([UVICORN, FASTAPI_TELEMETRY]) == (
        "run_asgi (uvicorn/protocols/http/httptools_impl.py)"
        " -> __call__ (fastapi/telemetry/_asgi.py)"
    )


def test_an_export_thread_is_charged_to_the_thread() -> None:
    bootstrap = f"_bootstrap ({STDLIB}/threading.py:1002)"
    worker = f"worker ({SITE}/opentelemetry/sdk/_shared_internal/__init__.py:150)"
    grpc = f"_blocking_unary_unary ({SITE}/grpc/_channel.py:1160)"
    assert call_site([bootstrap, worker, grpc]) == (
        "thread: worker (opentelemetry/sdk/_shared_internal/__init__.py)"
    )


def test_what_telemetry_calls_for_itself_is_telemetry_what_it_wraps_is_not() -> None:
    send = f"AsyncClient._send_single_request ({SITE}/httpx/_client.py:1010)"
    wrapper = f"_handle_async_request_wrapper ({SITE}/opentelemetry/instrumentation/httpx/a.py:9)"
    transport = "AiohttpTransport.handle_async_request (/w/services/shopkit/transport.py:80)"
    parse = f"urlparse ({SITE}/httpx/_urlparse.py:200)"
    site = (
        "AsyncClient._send_single_request (httpx/_client.py)"
        " -> _handle_async_request_wrapper (opentelemetry/instrumentation/httpx/a.py)"
    )
    assert call_site([UVICORN, send, wrapper, parse]) == site
    assert call_site([UVICORN, send, wrapper, transport]) == "(not telemetry)"


def test_samples_are_counted_per_call_site() -> None:
    sites = by_call_site(
        [([UVICORN, FASTAPI_TELEMETRY, HANDLER], 7), ([UVICORN, FASTAPI_TELEMETRY], 3)]
    )
    assert sites["(not telemetry)"] == 7
    assert sum(sites.values()) == 10


def test_the_shops_own_telemetry_is_telemetry_and_what_it_wraps_is_not() -> None:
    # Its own work (the headers read, the attributes looked up) counts for it; the request
    # under it, FastAPI's and the handler's, does not.
    server = "ServerTelemetry.__call__ (/w/services/shopkit/server_telemetry.py:120)"
    app = f"FastAPI.__call__ ({SITE}/fastapi/applications.py:1200)"
    assert call_site([UVICORN, server]) == (
        "run_asgi (uvicorn/protocols/http/httptools_impl.py)"
        " -> ServerTelemetry.__call__ (shopkit/server_telemetry.py)"
    )
    assert call_site([UVICORN, server, app, HANDLER]) == "(not telemetry)"
    transport = "TracedTransport.handle_async_request (/w/services/shopkit/http_telemetry.py:1)"
    send = f"AsyncClient._send_single_request ({SITE}/httpx/_client.py:1010)"
    assert call_site([UVICORN, send, transport]) == (
        "AsyncClient._send_single_request (httpx/_client.py)"
        " -> TracedTransport.handle_async_request (shopkit/http_telemetry.py)"
    )
