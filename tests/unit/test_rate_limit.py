"""The per-customer order limit: a token bucket each, on a clock the test moves."""

from order.rate_limit import CustomerRateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate_and_the_wait_until_the_next_token() -> None:
    clock = Clock()
    limit = CustomerRateLimit(per_second=2, burst=3, clock=clock)

    assert [limit.take("c1") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.take("c1") == 0.5  # the next token is half a second away at 2 a second
    assert limit.take("c2") == 0.0  # another customer has a bucket of their own

    clock.now += 0.5
    assert limit.take("c1") == 0.0
    assert limit.take("c1") == 0.5
    clock.now += 60  # idle: the bucket fills up to the burst, no further
    assert [limit.take("c1") for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]


def test_refused_attempts_do_not_push_the_next_token_further_away() -> None:
    clock = Clock()
    limit = CustomerRateLimit(per_second=1, burst=1, clock=clock)
    limit.take("c1")

    waits = []
    for _ in range(4):
        waits.append(limit.take("c1"))
        clock.now += 0.25
    assert waits == [1.0, 0.75, 0.5, 0.25]
    assert limit.take("c1") == 0.0


def test_only_customers_with_a_bucket_not_yet_full_are_remembered() -> None:
    clock = Clock()
    limit = CustomerRateLimit(per_second=1, burst=5, clock=clock)
    for n in range(1025):
        limit.take(f"old-{n}")
    clock.now += 10  # every old bucket has filled up again
    for n in range(1100):  # past twice the map's size at the last sweep: the next one runs
        limit.take(f"new-{n}")

    assert len(limit) == 1100  # only the new customers: the old ones were forgotten
    assert limit.take("old-1") == 0.0
