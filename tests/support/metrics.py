"""What an in-memory metric reader collected, by metric name."""

from opentelemetry.sdk.metrics.export import (
    DataPointT,
    InMemoryMetricReader,
    Metric,
    ScopeMetrics,
)


def collected(
    reader: InMemoryMetricReader, name: str
) -> list[tuple[ScopeMetrics, Metric, DataPointT]]:
    """Every data point of the metric `name` in one collection, with its scope and metric."""
    data = reader.get_metrics_data()
    assert data is not None, "the reader collected nothing"
    return [
        (scope, metric, point)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]
