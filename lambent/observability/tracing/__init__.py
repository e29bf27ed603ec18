"""X-Ray tracing: trace headers and sampling, the segments Lambda records, the X-Ray daemon's UDP
protocol in every sandbox, trace assembly and summaries for the X-Ray API, OTLP export.
See docs/tracing.md. (The OTLP exporter, :mod:`.otlp`, is imported only when configured.)
"""

from lambent.observability.tracing.daemon import DAEMON_PORT, DaemonServer, DaemonStats
from lambent.observability.tracing.header import TraceHeader, accepted_trace_header, parse
from lambent.observability.tracing.sampler import Sampler
from lambent.observability.tracing.segments import SegmentError, Stored, check
from lambent.observability.tracing.tracer import FinishedInvocation, TraceContext, Tracer

__all__ = ["DAEMON_PORT", "DaemonServer", "DaemonStats", "FinishedInvocation", "SegmentError", "Sampler", "Stored",
           "TraceContext", "TraceHeader", "Tracer", "accepted_trace_header", "check", "parse"]
