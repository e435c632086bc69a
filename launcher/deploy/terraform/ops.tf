# Operations (issue 9): the reconciliation failure alert, the run failure
# rate, and one dashboard of the pipeline's health. Every policy's
# documentation is the README runbook's steps for it ("Operations").

# The pipeline logs exactly "reconciliation failed" (ERROR) when a run's
# accounting identity does not hold; the run fails loudly too.
resource "google_logging_metric" "reconciliation_failures" {
  name        = "settle/${var.source_name}/reconciliation_failures"
  description = "Runs whose accounting identity did not hold (log line \"reconciliation failed\")"
  filter = join(" AND ", [
    "resource.type=\"dataflow_step\"",
    "resource.labels.job_name=starts_with(\"${local.job_name}\")",
    "(jsonPayload.message:\"reconciliation failed\" OR textPayload:\"reconciliation failed\")",
  ])
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }
}

resource "google_monitoring_alert_policy" "reconciliation" {
  display_name          = "settle ${var.source_name}: reconciliation failed"
  combiner              = "OR"
  notification_channels = local.channels
  documentation {
    content   = <<-EOT
      A run of ${var.source_name} read records from the raw zone that do not add up to promoted + quarantined + duplicates + stale (or pages landed != pages processed). The run failed and promoted nothing further.
      1. Find the run: `settle runs` (outcome failed, detail names the identity) and the driver job's log line "reconciliation failed".
      2. Recompute the day from the raw zone: `settle reconcile --date D`; it lists every difference by seller and currency.
      3. Do not promote by hand. File the difference with the run id; rerunning the same command is safe once the cause is fixed.
      Runbook: README, "Operations", reconciliation failed.
    EOT
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "a run logged \"reconciliation failed\""
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.reconciliation_failures.name}\" AND resource.type=\"dataflow_step\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }
}

# The share of failed runs over a window (settle status counts the last N
# runs the same way: --failure-warn).
resource "google_monitoring_alert_policy" "failure_rate" {
  display_name          = "settle ${var.source_name}: run failure rate above ${var.failure_rate_threshold * 100}%"
  combiner              = "OR"
  notification_channels = local.channels
  documentation {
    content   = <<-EOT
      More than ${var.failure_rate_threshold * 100}% of the runs of ${var.source_name} in the last ${var.failure_rate_window_seconds / 3600} h failed. One failure heals itself (the next run resumes from the watermark); a rate means a lasting cause.
      1. `settle status --backend=gcp ...` (failure rate, last run, last successful run) and `settle runs` (the detail of each failed run).
      2. Read the failed driver job's logs; 401/403 means the vendor token was revoked (add a new secret version); 5xx/429 storms are the vendor's.
      3. Fix the cause; rerunning is safe. Check the deadline verdict of `settle status` and tell finance if the day is at risk.
      Runbook: README, "Operations", runs failing.
    EOT
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "failed runs / runs over ${var.failure_rate_window_seconds}s"
    condition_threshold {
      filter             = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.run_reports.name}\" AND resource.type=\"dataflow_step\" AND metric.label.outcome=\"failed\""
      denominator_filter = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.run_reports.name}\" AND resource.type=\"dataflow_step\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.failure_rate_threshold
      duration           = "0s"
      aggregations {
        alignment_period     = "${var.failure_rate_window_seconds}s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      denominator_aggregations {
        alignment_period     = "${var.failure_rate_window_seconds}s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }
}

locals {
  user_metric = "logging.googleapis.com/user"
  counter     = "dataflow.googleapis.com/job/user_counter"
  job_filter  = "resource.type=\"dataflow_job\" AND resource.label.job_name=starts_with(\"${local.job_name}\")"

  # One line chart of a metric filter, aligned and reduced.
  dashboard_tiles = [
    { title = "Watermark age (s), p99 per hour", filter = "metric.type=\"${local.user_metric}/${google_logging_metric.watermark_age.name}\" AND resource.type=\"dataflow_step\"", aligner = "ALIGN_PERCENTILE_99", reducer = "REDUCE_MAX", group = [], period = "3600s", threshold = var.freshness_threshold_seconds },
    { title = "Runs by outcome", filter = "metric.type=\"${local.user_metric}/${google_logging_metric.run_reports.name}\" AND resource.type=\"dataflow_step\"", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", group = ["metric.label.outcome"], period = "3600s", threshold = null },
    { title = "Parked windows (dead-letter depth)", filter = "metric.type=\"${local.user_metric}/${google_logging_metric.parked_windows.name}\" AND resource.type=\"dataflow_step\"", aligner = "ALIGN_PERCENTILE_99", reducer = "REDUCE_MAX", group = [], period = "3600s", threshold = var.parked_windows_threshold + 0.5 },
    { title = "Held batches", filter = "metric.type=\"${local.user_metric}/${google_logging_metric.held_batches.name}\" AND resource.type=\"dataflow_step\"", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", group = [], period = "3600s", threshold = null },
    { title = "Reconciliation failures", filter = "metric.type=\"${local.user_metric}/${google_logging_metric.reconciliation_failures.name}\" AND resource.type=\"dataflow_step\"", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", group = [], period = "3600s", threshold = null },
    { title = "Vendor requests, 429s and retries (Beam counters vendorapi/*)", filter = "metric.type=\"${local.counter}\" AND ${local.job_filter} AND (metric.label.metric_name=\"fetch_attempts\" OR metric.label.metric_name=\"rate_limited\" OR metric.label.metric_name=\"retries\")", aligner = "ALIGN_MAX", reducer = "REDUCE_SUM", group = ["metric.label.metric_name"], period = "600s", threshold = null },
    { title = "Pages and records landed (vendorapi/pages_landed, records_landed)", filter = "metric.type=\"${local.counter}\" AND ${local.job_filter} AND (metric.label.metric_name=\"pages_landed\" OR metric.label.metric_name=\"records_landed\")", aligner = "ALIGN_MAX", reducer = "REDUCE_SUM", group = ["metric.label.metric_name"], period = "600s", threshold = null },
    { title = "Validated and quarantined rows (process/validated, process/quarantined)", filter = "metric.type=\"${local.counter}\" AND ${local.job_filter} AND (metric.label.metric_name=\"validated\" OR metric.label.metric_name=\"quarantined\")", aligner = "ALIGN_MAX", reducer = "REDUCE_SUM", group = ["metric.label.metric_name"], period = "600s", threshold = null },
    { title = "Quarantined by reason (process/quarantined_<reason>)", filter = "metric.type=\"${local.counter}\" AND ${local.job_filter} AND metric.label.metric_name=starts_with(\"quarantined_\")", aligner = "ALIGN_MAX", reducer = "REDUCE_SUM", group = ["metric.label.metric_name"], period = "600s", threshold = null },
    { title = "Dead letters (vendorapi/windows_parked)", filter = "metric.type=\"${local.counter}\" AND ${local.job_filter} AND metric.label.metric_name=\"windows_parked\"", aligner = "ALIGN_MAX", reducer = "REDUCE_SUM", group = [], period = "600s", threshold = null },
  ]
}

resource "google_monitoring_dashboard" "settle" {
  dashboard_json = jsonencode({
    displayName = "settle ${var.source_name}"
    mosaicLayout = {
      columns = 12
      tiles = [for i, t in local.dashboard_tiles : {
        xPos   = (i % 2) * 6
        yPos   = floor(i / 2) * 4
        width  = 6
        height = 4
        widget = {
          title = t.title
          xyChart = {
            dataSets = [{
              plotType = "LINE"
              timeSeriesQuery = {
                timeSeriesFilter = {
                  filter = t.filter
                  aggregation = {
                    alignmentPeriod    = t.period
                    perSeriesAligner   = t.aligner
                    crossSeriesReducer = t.reducer
                    groupByFields      = t.group
                  }
                }
              }
            }]
            thresholds = t.threshold == null ? [] : [{ value = t.threshold, color = "RED", direction = "ABOVE" }]
          }
        }
      }]
    }
  })
}
