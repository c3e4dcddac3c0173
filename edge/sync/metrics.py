"""Prometheus metrics of cloud sync (module level, one set per process)."""

from prometheus_client import Counter, Gauge, Histogram

BACKLOG = Gauge("edge_sync_backlog_events", "Outbox events not yet acknowledged by the cloud.")
OLDEST_AGE = Gauge("edge_sync_oldest_unsent_age_seconds", "Age of the oldest unacknowledged outbox event.")
SENT = Counter("edge_sync_sent_events_total", "Events acknowledged by the cloud (stored or duplicate).")
DUPLICATES = Counter("edge_sync_duplicate_events_total", "Events the cloud already had (a resend after a crash).")
ERRORS = Counter("edge_sync_send_errors_total", "Failed upload attempts.", ["reason"])
QUARANTINED = Counter("edge_sync_quarantined_events_total", "Events moved to quarantine after a permanent 4xx.")
PRUNED = Counter("edge_sync_pruned_events_total", "Sent events pruned after the retention period.")
BATCH_SECONDS = Histogram(
    "edge_sync_batch_seconds",
    "Wall time of one upload batch (send to acknowledgement).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DOWNSYNC_APPLIED = Counter("edge_sync_downsync_applied_total", "Down-sync versions applied.", ["kind"])
DOWNSYNC_ERRORS = Counter("edge_sync_downsync_errors_total", "Failed down-sync polls.", ["reason"])
DOWNSYNC_AGE = Gauge("edge_sync_downsync_staleness_seconds", "Seconds since the last successful down-sync poll.")
