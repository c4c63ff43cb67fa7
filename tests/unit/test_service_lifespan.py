"""What a service's lifespan does to the process around it (shopkit.app.create_service_app)."""

import gc

import pytest

from pricing.main import create_app
from pricing.settings import PricingSettings


async def test_what_start_up_built_is_kept_out_of_garbage_collections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The app and everything built before it serves are frozen (gc.freeze): full collections
    no longer walk them, which stalled the event loop 40-55 ms at a time under load. Once the
    app stops, they are collectable again."""
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    settings = PricingSettings(
        database_url="postgresql+asyncpg://shop@127.0.0.1:9/shop",  # never connected to here
        oidc_issuer="http://127.0.0.1:9",
        oidc_audience="pricing",
    )
    app = create_app(settings)
    assert gc.get_freeze_count() == 0
    async with app.router.lifespan_context(app):
        frozen = gc.get_freeze_count()
        assert frozen > 10_000, frozen  # the modules, the app, its routes and models
        assert not any(o is app for o in gc.get_objects())  # tracked no more
    assert gc.get_freeze_count() == 0
    assert any(o is app for o in gc.get_objects())
