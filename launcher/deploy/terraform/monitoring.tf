# Alerting as code. Sources:
#   - the one report line per run (launcher/report.go, reportFn, the last
#     step of the run's job):
#       settle_run_report source=S run_id=ID outcome=O held=0|1
#         parked_windows=N watermark_age_seconds=N promoted=N
#     turned into log-based metrics below;
#   - Dataflow's own job metrics (failed jobs) and the ingest job's Beam
#     counter vendorapi/windows_parked (dataflow.googleapis.com/job/user_counter);
#   - Cloud Scheduler's log of failed launch attempts.

locals {
  report_filter = join(" AND ", [
    "resource.type=\"dataflow_step\"",
    "resource.labels.job_name=\"${local.job_name}\"",
    "jsonPayload.message:\"settle_run_report\"",
  ])
  channels = concat(var.notification_channels, google_monitoring_notification_channel.email[*].id)
}

resource "google_monitoring_notification_channel" "email" {
  count        = var.alert_email == "" ? 0 : 1
  display_name = "settle alerts (${var.source_name})"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }
}

resource "google_logging_metric" "run_reports" {
  name        = "settle/${var.source_name}/run_reports"
  description = "settle runs that reached a verdict (one report line each)"
  filter      = local.report_filter
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key        = "outcome"
      value_type = "STRING"
    }
  }
  label_extractors = {
    outcome = "REGEXP_EXTRACT(jsonPayload.message, \"outcome=([a-z_]+)\")"
  }
}

resource "google_logging_metric" "watermark_age" {
  name            = "settle/${var.source_name}/watermark_age"
  description     = "Age of the watermark (end of the newest promoted hour) after each run"
  filter          = local.report_filter
  value_extractor = "REGEXP_EXTRACT(jsonPayload.message, \"watermark_age_seconds=([0-9]+)\")"
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "s"
  }
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 24
      growth_factor      = 2
      scale              = 60
    }
  }
}

resource "google_logging_metric" "parked_windows" {
  name            = "settle/${var.source_name}/parked_windows"
  description     = "Windows parked on dead letters (all of the source's, not only the run's) after each run"
  filter          = local.report_filter
  value_extractor = "REGEXP_EXTRACT(jsonPayload.message, \"parked_windows=([0-9]+)\")"
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "1"
  }
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 16
      growth_factor      = 2
      scale              = 1
    }
  }
}

resource "google_logging_metric" "held_batches" {
  name        = "settle/${var.source_name}/held_batches"
  description = "Runs whose batch the volume gate held (staged, not promoted)"
  filter      = "${local.report_filter} AND jsonPayload.message:\"held=1\""
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }
}

# Freshness against the finance deadline: the watermark is too old, or no
# run has reported at all (scheduler paused or broken, launches failing).
resource "google_monitoring_alert_policy" "freshness" {
  display_name          = "settle ${var.source_name}: data older than the finance deadline allows"
  combiner              = "OR"
  notification_channels = local.channels
  documentation {
    content   = "The watermark of ${var.source_name} is older than ${var.freshness_threshold_seconds}s, or no run reported for 2h: finance's deadline is at risk. 1. `settle status --backend=gcp ...` says complete-up-to, the deadline verdict (met / at risk / missed), parked windows and who holds the lease. 2. Check the scheduler job and the last run job (${local.job_name}); a parked window holds complete-up-to back (`settle deadletters`, then `settle redrive`). 3. If the day will miss the deadline, tell finance which hours are incomplete (the freshness table says complete_up_to). Runbook: README, \"Operations\"."
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "watermark older than ${var.freshness_threshold_seconds}s"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.watermark_age.name}\" AND resource.type=\"dataflow_step\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.freshness_threshold_seconds
      duration        = "0s"
      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_PERCENTILE_99"
        cross_series_reducer = "REDUCE_MAX"
      }
    }
  }

  conditions {
    display_name = "no run reported for 2h"
    condition_absent {
      filter   = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.run_reports.name}\" AND resource.type=\"dataflow_step\""
      duration = "7200s"
      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }
}

# Failures: a failed driver, ingest or process job (a driver fails after
# Dataflow's 4 bundle retries of a run that kept failing), or a run that
# reported outcome=failed; and, below, a launch Cloud Scheduler could not make.
resource "google_monitoring_alert_policy" "failures" {
  display_name          = "settle ${var.source_name}: runs failing"
  combiner              = "OR"
  notification_channels = local.channels
  documentation {
    content   = "A settle job of ${var.source_name} failed, or a launch could not be made. Nothing is lost: the watermark did not move and the next hourly run starts from it. See the job's logs, fix the cause; rerunning is safe."
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "a settle Dataflow job failed"
    condition_threshold {
      filter          = "metric.type=\"dataflow.googleapis.com/job/is_failed\" AND resource.type=\"dataflow_job\" AND resource.label.job_name=starts_with(\"${local.job_name}\")"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_MAX"
      }
    }
  }

  conditions {
    display_name = "a run reported outcome=failed"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.run_reports.name}\" AND resource.type=\"dataflow_step\" AND metric.label.outcome=\"failed\""
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

# A log-match condition must be alone in its policy.
resource "google_monitoring_alert_policy" "launch_failures" {
  display_name          = "settle ${var.source_name}: Cloud Scheduler could not launch the run"
  combiner              = "OR"
  notification_channels = local.channels
  documentation {
    content   = "Cloud Scheduler's call to flexTemplates:launch failed after its retries (a 409 means the previous hour's driver job, same name, was still running). The next hour's run covers the missed range from the watermark."
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "Cloud Scheduler could not launch the template"
    condition_matched_log {
      filter = "resource.type=\"cloud_scheduler_job\" AND resource.labels.job_id=\"${google_cloud_scheduler_job.hourly_run.name}\" AND severity>=ERROR"
    }
  }

  alert_strategy {
    notification_rate_limit {
      period = "3600s"
    }
    auto_close = "86400s"
  }
}

# Dead-letter depth: windows parked on a page that failed past its budget.
resource "google_monitoring_alert_policy" "dead_letters" {
  display_name          = "settle ${var.source_name}: windows parked on dead letters"
  combiner              = "OR"
  notification_channels = local.channels
  documentation {
    content   = "Windows of ${var.source_name} are parked: their data is not promoted and the watermark waits for them. `settle deadletters` lists them; when the vendor is healthy, `settle redrive`. A 401/403 means the token was revoked: add a new secret version, then redrive."
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "parked windows after the last run"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.parked_windows.name}\" AND resource.type=\"dataflow_step\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.parked_windows_threshold + 0.5
      duration        = "0s"
      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_PERCENTILE_99"
        cross_series_reducer = "REDUCE_MAX"
      }
    }
  }

  conditions {
    display_name = "ingest parked windows (Beam counter vendorapi/windows_parked)"
    condition_threshold {
      filter          = "metric.type=\"dataflow.googleapis.com/job/user_counter\" AND resource.type=\"dataflow_job\" AND resource.label.job_name=starts_with(\"${local.job_name}\") AND metric.label.metric_name=\"windows_parked\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_MAX"
      }
    }
  }
}

# Held batches: the volume gate staged a batch and did not promote it.
resource "google_monitoring_alert_policy" "held_batches" {
  display_name          = "settle ${var.source_name}: batch held by the volume gate"
  combiner              = "OR"
  notification_channels = local.channels
  documentation {
    content   = "A run's validated volume was out of band, so its batch is staged but not promoted (finance does not see it). Check it (README, Runbook, held batch); if genuine, `settle promote --run-id ID`."
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "a run held its batch"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.held_batches.name}\" AND resource.type=\"dataflow_step\""
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
}
