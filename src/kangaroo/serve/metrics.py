"""Server counters and histograms, written in the Prometheus text format (``GET /metrics``)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Histogram:
    """Cumulative buckets, sum and count of observed values (seconds)."""

    def __init__(self, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * len(self.buckets)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str) -> list[str]:
        out = [f'{name}_bucket{{le="{bound:g}"}} {count}' for bound, count in zip(self.buckets, self.counts, strict=True)]
        return [*out, f'{name}_bucket{{le="+Inf"}} {self.count}', f"{name}_sum {self.total:.6f}", f"{name}_count {self.count}"]


class ServerMetrics:
    """What ``/metrics`` reports; every method is thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[int] = Counter()  # by HTTP status
        self.counters: Counter[str] = Counter()  # prompt_tokens, completion_tokens, cancelled, ...
        self.latency = Histogram()
        self.time_to_first_token = Histogram()

    def count_request(self, status: int) -> None:
        with self._lock:
            self.requests[status] += 1

    def add(self, name: str, value: int = 1) -> None:
        with self._lock:
            self.counters[name] += value

    def observe(self, latency: float | None = None, time_to_first_token: float | None = None) -> None:
        with self._lock:
            if latency is not None:
                self.latency.observe(latency)
            if time_to_first_token is not None:
                self.time_to_first_token.observe(time_to_first_token)

    def render(self, gauges: dict[str, tuple[str, Callable[[], float]]]) -> str:
        """The Prometheus text; ``gauges`` maps a metric name to ``(help, read)``."""
        with self._lock:
            lines = ["# HELP kangaroo_requests_total Chat completion requests answered, by HTTP status.",
                     "# TYPE kangaroo_requests_total counter"]
            lines += [f'kangaroo_requests_total{{status="{status}"}} {n}' for status, n in sorted(self.requests.items())]
            for name, text in COUNTERS.items():
                lines += [f"# HELP kangaroo_{name}_total {text}", f"# TYPE kangaroo_{name}_total counter",
                          f"kangaroo_{name}_total {self.counters[name]}"]
            for name, histogram, text in (
                ("kangaroo_request_seconds", self.latency, "Time from a request's arrival to its last token."),
                ("kangaroo_time_to_first_token_seconds", self.time_to_first_token,
                 "Time from a request's arrival to its first token."),
            ):
                lines += [f"# HELP {name} {text}", f"# TYPE {name} histogram", *histogram.lines(name)]
        for name, (text, read) in gauges.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge", f"{name} {read():g}"]
        return "\n".join(lines) + "\n"


COUNTERS = {
    "prompt_tokens": "Prompt tokens of answered requests.",
    "completion_tokens": "Tokens generated.",
    "prefix_tokens_reused": "Prompt tokens whose KV cache came from an earlier request (not prefilled again).",
    "feature_cache_hits": "Videos whose visual features came from the feature cache.",
    "feature_cache_misses": "Videos decoded and encoded by the vision branch.",
    "cancelled": "Requests stopped because the client went away.",
    "rejected": "Requests refused because the queue was full (429).",
    "decode_steps": "Forward passes of batched decoding (each makes one token of every reply in the batch).",
    "decode_rows": "Reply tokens made by batched decoding (decode_rows / decode_steps: the mean batch size).",
}
