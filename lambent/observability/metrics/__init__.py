"""CloudWatch-compatible metrics: 1-minute aggregation, percentiles, retention, Lambda's own metrics.

- :mod:`.summary` — a minute's statistic set and log-bucketed distribution (pure)
- :mod:`.series` — a metric's identity (namespace, name, sorted dimensions)
- :mod:`.service` — :class:`MetricsService`: in memory, flushed to an :class:`Archive` (metrics.db)
- :mod:`.query` — periods and datapoints for the API
- :mod:`.lambda_metrics` — :class:`LambdaMetrics`, namespace AWS/Lambda, fed by the invoke path
"""

from lambent.observability.metrics.lambda_metrics import NAMESPACE, LambdaMetrics, Totals, dimension_sets
from lambent.observability.metrics.query import Datapoint, datapoints, group, period_count
from lambent.observability.metrics.series import Dimensions, Series, dimensions
from lambent.observability.metrics.service import Archive, MetricsService, MinuteRow
from lambent.observability.metrics.summary import BASIC_STATISTICS, Summary, percentile_of

__all__ = [
    "BASIC_STATISTICS", "NAMESPACE", "Archive", "Datapoint", "Dimensions", "LambdaMetrics", "MetricsService",
    "MinuteRow", "Series", "Summary", "Totals", "datapoints", "dimension_sets", "dimensions", "group",
    "percentile_of", "period_count",
]
