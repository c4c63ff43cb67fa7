"""The floor of a refusal: uvicorn alone, answering every business request with the 503 that
admission's gate sends (shopkit.admission.send_overloaded) and the probes with 200. What a
refusal costs the order service above this is the gate's own (`python -m bench.refusal`).

Run: uvicorn bench.floorshop.refuser:app --lifespan off
"""

from starlette.types import Receive, Scope, Send

from shopkit import health
from shopkit.admission import send_overloaded


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["path"] in health.PATHS:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    await send_overloaded(scope["path"], send)
