output "template_path" {
  description = "Where `make template-publish` must write the template spec (DEPLOY_TEMPLATE)."
  value       = local.template_path
}

output "image_repository" {
  description = "Artifact Registry repository of the launcher image (DEPLOY_IMAGE's prefix)."
  value       = "${var.region}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.images.repository_id}"
}

output "token_secret" {
  description = "Secret that must hold the vendor token: printf %s \"$TOKEN\" | gcloud secrets versions add <this> --data-file=-"
  value       = google_secret_manager_secret.vendor_token.id
}

output "raw_bucket" {
  value = google_storage_bucket.raw.name
}

output "dataflow_bucket" {
  value = google_storage_bucket.dataflow.name
}

output "service_accounts" {
  value = {
    scheduler = google_service_account.scheduler.email
    driver    = google_service_account.driver.email
    worker    = google_service_account.worker.email
  }
}

output "scheduler_job" {
  value = google_cloud_scheduler_job.hourly_run.id
}

output "launch_parameters" {
  description = "The template parameters of the scheduled launch, for a manual launch (add from=... for the first run)."
  value       = local.launch_parameters
}
