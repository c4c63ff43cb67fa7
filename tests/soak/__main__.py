"""`python -m tests.soak`: the crash soak of docs/failure-model.md (`make soak DURATION=5m`).

Exits 1 when an invariant is broken, after printing the figures and what broke.
"""

import argparse
import sys
from pathlib import Path

from tests.soak.chaos import Config, run


def _seconds(value: str) -> float:
    """90, 90s, 5m or 1h."""
    units = {"s": 1, "m": 60, "h": 3600}
    if value[-1:] in units:
        return float(value[:-1]) * units[value[-1]]
    return float(value)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--duration", type=_seconds, default=300.0, help="of faults: 90s, 5m")
    parser.add_argument("--clients", type=int, default=Config.clients)
    parser.add_argument("--seed", type=int, help="replay a run's faults and orders")
    parser.add_argument(
        "--services", help="PYTHONPATH of the services under test (another checkout's services/)"
    )
    parser.add_argument("--logs", type=Path, default=Path(".run/soak"), help="services' logs")
    args = parser.parse_args()
    config = Config(
        duration=args.duration,
        clients=args.clients,
        # Enough stock for the duration: refusals stay a minority, as in a shop.
        stock=max(Config.stock, int(args.duration * 3)),
        seed=args.seed,
        services_path=args.services,
        logs=args.logs,
    )
    figures, broken = run(config)
    print("\n".join(figures.lines()))
    if broken:
        print(f"\nFAILED: {len(broken)} invariant violations, for example:")
        print("\n".join(f"  {line}" for line in broken[:20]))
        return 1
    print("\nall invariants hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
