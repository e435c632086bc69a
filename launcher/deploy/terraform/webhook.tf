# Webhook push mode (vendor-webhooks.md, issue #11):
#
#   vendor --POST, Vendor-Signature--> Cloud Run "settle-webhook"
#     (`settle webhook serve`, service account settle-webhook): verifies the
#     HMAC, lands the raw body under raw/events/<source>/date=/hour=/ with a
#     does-not-exist precondition, and only then answers 200.
#   Cloud Scheduler "settle-webhook" launches the Flex Template with
#     source=webhook: `settle launch` submits the one job of `settle run
#     --source=webhook` (pipeline.Job, channel webhook): it processes the
#     event objects of the hours of receipt since the last run, with no
#     vendor call, and moves the webhook watermark.
#   Cloud Scheduler "settle-sweep" launches it with source=sweep: the one
#     job of `settle sweep` pulls the last 6 h at the list endpoint's
#     5 req/s, lands what the webhooks missed, and records the webhook
#     status for `settle status`.
#   Both jobs run as the worker account, which reads the whole raw bucket
#     (events included) and writes the cursor store (the status document).
#
# The signing secret is added out of band (two comma-separated during a
# rotation), never in Terraform state:
#   printf %s "$SECRET" | gcloud secrets versions add settle-webhook-signing-secret --data-file=-
# The service reads it at start: after adding a version, deploy a new
# revision (gcloud run services update settle-webhook --region R).

variable "webhook_image" {
  description = "Container image of the launcher (it holds `settle webhook serve`), e.g. the Flex Template's image. Empty: no Cloud Run service."
  type        = string
  default     = ""
}

variable "webhook_max_instances" {
  description = "Upper bound of Cloud Run instances of the receiver (bursts of 10-50x after a vendor outage)."
  type        = number
  default     = 20
}

variable "webhook_schedule" {
  description = "Cron (UTC) of webhook processing: a few minutes after each hour, past WebhookGrace (2 min)."
  type        = string
  default     = "5 * * * *"
}

variable "sweep_schedule" {
  description = "Cron (UTC) of the reconciliation sweep."
  type        = string
  default     = "35 */3 * * *"
}

resource "google_project_service" "webhook_apis" {
  for_each           = toset(["run.googleapis.com"])
  service            = each.value
  disable_on_destroy = false
}

resource "google_secret_manager_secret" "webhook_secret" {
  secret_id = "settle-webhook-signing-secret"
  labels    = local.labels
  replication {
    auto {}
  }
  depends_on = [google_project_service.apis]
}

resource "google_service_account" "webhook" {
  account_id   = "settle-webhook"
  display_name = "settle: webhook receiver (Cloud Run)"
}

# Create raw event objects, and read them back: a redelivery meets the
# does-not-exist precondition (412) and the receiver compares the stored
# object with the new one before it acknowledges. Only under raw/events/;
# no list, no delete, no overwrite, nothing else in the bucket.
resource "google_project_iam_custom_role" "webhook_lander" {
  role_id     = "settleWebhookLander"
  title       = "settle webhook lander"
  description = "Create (and read back) raw webhook event objects; never delete or overwrite"
  permissions = ["storage.objects.create", "storage.objects.get"]
}

resource "google_storage_bucket_iam_member" "webhook_lands_events" {
  bucket = google_storage_bucket.raw.name
  role   = google_project_iam_custom_role.webhook_lander.id
  member = "serviceAccount:${google_service_account.webhook.email}"
  condition {
    title       = "raw-events-prefix-only"
    description = "Webhook event objects only"
    expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.raw.name}/objects/raw/events/\")"
  }
}

resource "google_secret_manager_secret_iam_member" "webhook_reads_secret" {
  secret_id = google_secret_manager_secret.webhook_secret.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.webhook.email}"
}

resource "google_cloud_run_v2_service" "webhook" {
  count               = var.webhook_image == "" ? 0 : 1
  name                = "settle-webhook"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = false
  labels              = local.labels

  template {
    service_account                  = google_service_account.webhook.email
    timeout                          = "10s" # the vendor waits 10 s for an answer
    max_instance_request_concurrency = 250
    scaling {
      min_instance_count = 1
      max_instance_count = var.webhook_max_instances
    }
    containers {
      image = var.webhook_image
      args = [
        "webhook", "serve",
        "--raw-zone", "gs://${google_storage_bucket.raw.name}/raw",
        "--secret-name", google_secret_manager_secret.webhook_secret.id,
        "--log-format", "json",
      ]
      ports {
        container_port = 8080 # `settle webhook serve` listens on :$PORT
      }
      resources {
        limits   = { cpu = "2", memory = "512Mi" }
        cpu_idle = false
      }
      startup_probe {
        http_get {
          path = "/healthz"
        }
      }
    }
  }

  depends_on = [
    google_project_service.webhook_apis,
    google_secret_manager_secret_iam_member.webhook_reads_secret,
    google_storage_bucket_iam_member.webhook_lands_events,
  ]
}

# The vendor calls without Google credentials: the HMAC signature is the
# authentication, checked before anything is landed.
resource "google_cloud_run_v2_service_iam_member" "webhook_public" {
  count    = var.webhook_image == "" ? 0 : 1
  name     = google_cloud_run_v2_service.webhook[0].name
  location = var.region
  role     = "roles/run.invoker"
  member   = "allUsers"
}

locals {
  # The same Flex Template launch as the hourly run, with another source
  # (and job names of its own, so the three never refuse each other).
  channel_launches = {
    webhook = { schedule = var.webhook_schedule, description = "settle run --source=webhook: process the hours of receipt since the last run" }
    sweep   = { schedule = var.sweep_schedule, description = "settle sweep: the last 6 h at 5 req/s, land what webhooks missed, record the webhook status" }
  }
}

resource "google_cloud_scheduler_job" "channel" {
  for_each         = local.channel_launches
  name             = "settle-${each.key}"
  description      = each.value.description
  region           = var.region
  schedule         = each.value.schedule
  time_zone        = "Etc/UTC"
  paused           = var.scheduler_paused
  attempt_deadline = "180s"

  retry_config {
    retry_count          = 3
    min_backoff_duration = "60s"
    max_backoff_duration = "600s"
    max_doublings        = 3
    max_retry_duration   = "1800s"
  }

  http_target {
    http_method = "POST"
    uri         = "https://dataflow.googleapis.com/v1b3/projects/${var.project}/locations/${var.region}/flexTemplates:launch"
    headers = {
      "Content-Type" = "application/json"
    }
    body = base64encode(jsonencode({
      launchParameter = {
        jobName              = "settle-${each.key}"
        containerSpecGcsPath = local.template_path
        parameters = merge(local.launch_parameters, {
          "source"   = each.key
          "job-name" = "settle-${each.key}"
        }, each.key == "sweep" ? { "rate" = "5", "burst" = "5" } : {})
        environment = local.launch_environment
      }
    }))

    oauth_token {
      service_account_email = google_service_account.scheduler.email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [
    google_project_service.apis,
    google_project_iam_member.scheduler_dataflow,
    google_service_account_iam_member.scheduler_acts_as_driver,
  ]
}

# Alerts for the push channel's two scheduled jobs (monitoring.tf's
# policies filter on the pull's job name). A failed webhook run or sweep
# loses nothing: the events stay in the raw zone and the next run starts
# from the watermark; what the sweep found missing shows in `settle status`.
locals {
  channel_runbook = {
    webhook = "The webhook processing job (settle-webhook) failed or could not be launched. Nothing is lost: pushed events stay in the raw zone and the next run processes every hour of receipt since the webhook watermark. 1. `settle status --backend=gcp ...` (webhook section: last event received, lag). 2. Read the job's logs; fix the cause; `settle run --source=webhook --backend=gcp ...` from a host reruns it safely. Runbook: README, \"Webhook push mode\"."
    sweep   = "The sweep job (settle-sweep) failed or could not be launched, so events the vendor failed to push are not being caught. 1. `settle status --backend=gcp ...` (webhook section: when the last sweep ran, how many versions it found missing). 2. Read the job's logs (a 429 storm means the list endpoint's 5 req/s was exceeded elsewhere); fix the cause; `settle sweep --backend=gcp ...` from a host reruns it safely. Runbook: README, \"Webhook push mode\"."
  }
}

resource "google_monitoring_alert_policy" "channel_failures" {
  for_each              = local.channel_launches
  display_name          = "settle ${each.key}: job failing"
  combiner              = "OR"
  notification_channels = local.channels
  documentation {
    content   = local.channel_runbook[each.key]
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "a settle-${each.key} Dataflow job failed"
    condition_threshold {
      filter          = "metric.type=\"dataflow.googleapis.com/job/is_failed\" AND resource.type=\"dataflow_job\" AND resource.label.job_name=starts_with(\"settle-${each.key}\")"
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

  alert_strategy {
    auto_close = "86400s"
  }
}

# A log-match condition must be alone in its policy.
resource "google_monitoring_alert_policy" "channel_launch_failures" {
  for_each              = local.channel_launches
  display_name          = "settle ${each.key}: Cloud Scheduler could not launch the job"
  combiner              = "OR"
  notification_channels = local.channels
  documentation {
    content   = local.channel_runbook[each.key]
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "Cloud Scheduler could not launch settle-${each.key}"
    condition_matched_log {
      filter = "resource.type=\"cloud_scheduler_job\" AND resource.labels.job_id=\"${google_cloud_scheduler_job.channel[each.key].name}\" AND severity>=ERROR"
    }
  }

  alert_strategy {
    notification_rate_limit {
      period = "3600s"
    }
    auto_close = "86400s"
  }
}
