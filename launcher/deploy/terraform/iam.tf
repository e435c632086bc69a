# Three service accounts, least privilege each:
#
#   settle-scheduler  Cloud Scheduler's OAuth identity: launches the template
#                     as settle-driver. Nothing else.
#   settle-driver     the launcher VM and the one driver worker: submits the
#                     ingest and process jobs as settle-worker, holds the run
#                     lease and watermark (Firestore), lists the raw zone,
#                     stages and promotes in its own BigQuery dataset. It
#                     cannot read the vendor token.
#   settle-worker     the ingest and process workers: creates and reads raw
#                     objects (no delete), rewrites load files under staging/,
#                     moves cursors (Firestore), reads the token secret. No
#                     BigQuery, no job submission.

resource "google_service_account" "scheduler" {
  account_id   = "settle-scheduler"
  display_name = "settle: Cloud Scheduler launcher"
}

resource "google_service_account" "driver" {
  account_id   = "settle-driver"
  display_name = "settle: Dataflow driver job"
}

resource "google_service_account" "worker" {
  account_id   = "settle-worker"
  display_name = "settle: Dataflow ingest and process workers"
}

# --- settle-scheduler -------------------------------------------------------

resource "google_project_iam_member" "scheduler_dataflow" {
  project = var.project
  role    = "roles/dataflow.developer"
  member  = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_service_account_iam_member" "scheduler_acts_as_driver" {
  service_account_id = google_service_account.driver.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_storage_bucket_iam_member" "scheduler_reads_templates" {
  bucket = google_storage_bucket.templates.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.scheduler.email}"
}

# --- settle-driver ----------------------------------------------------------

resource "google_project_iam_member" "driver" {
  for_each = toset(concat([
    "roles/dataflow.worker",    # run as a Dataflow worker (and the launcher VM)
    "roles/dataflow.developer", # submit and watch the ingest and process jobs
    "roles/bigquery.jobUser",   # load and MERGE jobs
    "roles/datastore.user",     # lease, watermark, window states
  ], var.grant_dataset_create ? ["roles/bigquery.user"] : []))
  project = var.project
  role    = each.value
  member  = "serviceAccount:${google_service_account.driver.email}"
}

resource "google_service_account_iam_member" "driver_acts_as_worker" {
  service_account_id = google_service_account.worker.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.driver.email}"
}

resource "google_bigquery_dataset_iam_member" "driver_edits_warehouse" {
  dataset_id = google_bigquery_dataset.warehouse.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.driver.email}"
}

resource "google_storage_bucket_iam_member" "driver_reads_raw" {
  bucket = google_storage_bucket.raw.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.driver.email}"
}

resource "google_storage_bucket_iam_member" "driver_dataflow_files" {
  bucket = google_storage_bucket.dataflow.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.driver.email}"
}

resource "google_storage_bucket_iam_member" "driver_reads_templates" {
  bucket = google_storage_bucket.templates.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.driver.email}"
}

resource "google_artifact_registry_repository_iam_member" "driver_pulls_launcher" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${google_service_account.driver.email}"
}

# --- settle-worker ----------------------------------------------------------

resource "google_project_iam_member" "worker" {
  for_each = toset([
    "roles/dataflow.worker",  # run as a Dataflow worker
    "roles/datastore.user",   # cursor compare-and-set, lease, watermark
    "roles/bigquery.jobUser", # the run's land stage: load and MERGE jobs
  ])
  project = var.project
  role    = each.value
  member  = "serviceAccount:${google_service_account.worker.email}"
}

# The run's land stage (one job per run: lease, ingest, process, land)
# stages, promotes and records the run in the warehouse.
resource "google_bigquery_dataset_iam_member" "worker_edits_warehouse" {
  dataset_id = google_bigquery_dataset.warehouse.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.worker.email}"
}

# Raw zone: create and read, never delete (and so never overwrite).
resource "google_storage_bucket_iam_member" "worker_raw" {
  for_each = toset(["roles/storage.objectCreator", "roles/storage.objectViewer"])
  bucket   = google_storage_bucket.raw.name
  role     = each.value
  member   = "serviceAccount:${google_service_account.worker.email}"
}

# Load files: a retried process bundle rewrites its file, so staging/ only.
resource "google_storage_bucket_iam_member" "worker_staging" {
  bucket = google_storage_bucket.raw.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.worker.email}"
  condition {
    title       = "staging-prefix-only"
    description = "Rewrite and delete only the load files under staging/"
    expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.raw.name}/objects/staging/\")"
  }
}

resource "google_storage_bucket_iam_member" "worker_dataflow_files" {
  bucket = google_storage_bucket.dataflow.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_secret_manager_secret_iam_member" "worker_reads_token" {
  secret_id = google_secret_manager_secret.vendor_token.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.worker.email}"
}
