"""The crash soak, short: ~25 s of orders under kill -9 and PostgreSQL restarts.

The long version is `make soak DURATION=5m` (python -m tests.soak).
"""

import os
from pathlib import Path

import pytest

from tests.soak.chaos import Config, run

pytestmark = pytest.mark.e2e


def test_orders_survive_kill_9_of_anything(logs_dir: Path) -> None:
    # SOAK_SEED replays a run; SOAK_SERVICES tests another checkout's services/ (its git
    # history's, say: the soak fails on the code before recovery, d61ecba).
    seed = os.environ.get("SOAK_SEED")
    config = Config(
        duration=25,
        seed=int(seed) if seed else None,
        services_path=os.environ.get("SOAK_SERVICES"),
        logs=logs_dir / "soak",
    )
    figures, broken = run(config)
    report = "\n".join(figures.lines())
    print(report)  # shown with -s, or -rP
    assert broken == [], f"{report}\n" + "\n".join(broken[:20])
    # The soak did what it claims: every kind of fault happened, orders got through.
    assert (
        set(figures.faults)
        == {
            "kill order",
            "kill inventory",
            "kill pricing",
            "restart postgres fast",
            "restart postgres immediate",
        }
        or sum(figures.faults.values()) >= 12
    ), figures.faults
    assert figures.acknowledged >= 20, report
    assert figures.time_to_consistency is not None
    assert figures.time_to_consistency <= config.settle_within
