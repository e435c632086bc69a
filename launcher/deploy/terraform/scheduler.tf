# The hourly run: Cloud Scheduler calls the Dataflow flexTemplates:launch
# REST method with an OAuth token of settle-scheduler. The launch carries
# no window parameters (no from, no to): the run derives its range from the
# watermark, as `settle run` does without them.
#
# A launch is retried (retry_config) when the call itself fails, e.g. a 409
# while the previous hour's job, with the same fixed name, is still
# running. A run that fails on Dataflow is not retried here: the next hour's
# run starts from the watermark, which a failed run did not move, so it
# covers the missed hours (and the failure alerts fire).
#
# Not google_dataflow_flex_template_job: that resource launches a job on
# every `terraform apply`, not on a schedule.

locals {
  launch_parameters = merge(
    {
      "vendor-url"           = var.vendor_url
      "token-secret"         = google_secret_manager_secret.vendor_token.id
      "raw-bucket"           = google_storage_bucket.raw.name
      "service-account"      = google_service_account.worker.email
      "staging-location"     = "gs://${google_storage_bucket.dataflow.name}/staging"
      "temp-location"        = "gs://${google_storage_bucket.dataflow.name}/tmp"
      "dataset"              = google_bigquery_dataset.warehouse.dataset_id
      "firestore-collection" = var.firestore_collection
      "source"               = var.source_name
      "job-name"             = local.job_name
      "max-workers"          = tostring(var.max_workers)
      "worker-machine-type"  = var.worker_machine_type
    },
    var.network == "" ? {} : { "worker-network" = var.network },
    var.subnetwork == "" ? {} : { "worker-subnetwork" = var.subnetwork },
    var.no_public_ips ? { "no-public-ips" = "true" } : {},
  )

  launch_environment = merge(
    {
      serviceAccountEmail  = google_service_account.driver.email
      stagingLocation      = "gs://${google_storage_bucket.dataflow.name}/staging"
      tempLocation         = "gs://${google_storage_bucket.dataflow.name}/tmp"
      machineType          = var.driver_machine_type
      launcherMachineType  = var.driver_machine_type
      numWorkers           = 1
      maxWorkers           = 1
      additionalUserLabels = local.labels
    },
    var.network == "" ? {} : { network = var.network },
    var.subnetwork == "" ? {} : { subnetwork = var.subnetwork },
    var.no_public_ips ? { ipConfiguration = "WORKER_IP_PRIVATE" } : {},
  )

  launch_body = {
    launchParameter = {
      jobName              = local.job_name
      containerSpecGcsPath = local.template_path
      parameters           = local.launch_parameters
      environment          = local.launch_environment
    }
  }
}

resource "google_cloud_scheduler_job" "hourly_run" {
  name             = "settle-${var.source_name}-hourly"
  description      = "settle run on Dataflow every hour (Flex Template ${local.template_path})"
  region           = var.region
  schedule         = var.schedule
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
    body = base64encode(jsonencode(local.launch_body))

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
