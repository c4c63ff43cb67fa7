"""bench.results without a stack: medians, the sustained rate, and results.json's round trip."""

import json

from bench.load import Samples, summarize
from bench.results import Endpoint, Repeated, Round, SustainedRate


def a_round(
    offered_rps: float | None, reads_s: list[float], errors: int = 0, seconds: float = 1.0
) -> Round:
    samples = Samples(elapsed=seconds, sent=len(reads_s) + errors)
    samples.latencies[Endpoint.READ_ORDER] = reads_s
    samples.errors[Endpoint.READ_ORDER] = errors
    cpu = {"order": 0.01 * len(reads_s), "inventory": 0.0, "pricing": 0.0}
    return summarize(samples, cpu, 0.0, offered_rps)


def test_a_round_counts_each_endpoint_and_all_of_them() -> None:
    measured = a_round(None, [0.010, 0.020, 0.030, 0.040], errors=1, seconds=2.0)
    reads = measured.by_endpoint[Endpoint.READ_ORDER]
    assert (reads.answered, reads.errors, reads.throughput_rps) == (4, 1, 2.0)
    assert reads.latency.p50_ms == 20.0 and reads.latency.p99_ms == 40.0
    assert measured.overall == reads
    assert measured.error_rate == 1 / 5
    assert measured.cpu_ms_per_request == 10.0
    assert measured.cpu_ms_per_request_by_service["order"] == 10.0


def test_no_request_of_a_kind_leaves_no_percentile_not_a_zero() -> None:
    posts = a_round(None, [0.010]).by_endpoint[Endpoint.CREATE_ORDER]
    assert posts.answered == 0
    assert posts.latency.p50_ms is None and posts.latency.p99_ms is None


def test_the_median_round_is_the_middle_one_by_the_comparisons_number() -> None:
    rounds = [a_round(None, [0.001] * n) for n in (30, 10, 20)]
    repeated = Repeated.of(rounds, by=lambda r: r.overall.throughput_rps)
    assert repeated.median.overall.answered == 20
    assert repeated.rounds == tuple(rounds)


def test_a_step_is_sustained_when_answered_in_time_without_errors() -> None:
    rule = SustainedRate()
    assert rule.holds(a_round(10.0, [0.010] * 10))
    assert not rule.holds(a_round(10.0, [0.010] * 9))  # 90% of the offered rate answered
    assert not rule.holds(a_round(10.0, [0.010] * 100, errors=2, seconds=10))  # 2% errors
    assert not rule.holds(a_round(10.0, [2.0] * 10))  # p99 over 1 s
    assert not rule.holds(a_round(10.0, []))


def test_a_round_reads_back_from_its_json_with_none_for_missing_numbers() -> None:
    measured = a_round(5.0, [0.010, 0.020])
    text = measured.model_dump_json()
    assert json.loads(text)["by_endpoint"]["POST /orders"]["latency"]["p50_ms"] is None
    assert Round.model_validate_json(text) == measured
