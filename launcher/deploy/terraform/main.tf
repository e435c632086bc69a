# settle on Google Cloud: one run of `settle run` every hour as a Dataflow
# Flex Template launch from Cloud Scheduler.
#
#   Cloud Scheduler --(OAuth, settle-scheduler)--> flexTemplates:launch
#     -> the launcher VM (settle-driver) writes the run's one batch job
#        "settle-<source>" (settle-worker, up to max_workers): lease, range
#        from the watermark, ingest, process, BigQuery stage/promote,
#        watermark, runs ledger, one report log line
#
# The fixed job names make Dataflow refuse an overlapping launch; the run
# lease in Firestore refuses an overlapping run from anywhere else.

locals {
  firestore_location = coalesce(var.firestore_location, var.region)
  bigquery_location  = coalesce(var.bigquery_location, var.region)
  job_name           = "settle-${var.source_name}"
  raw_bucket         = "${var.project}-settle-raw"
  dataflow_bucket    = "${var.project}-settle-dataflow"
  templates_bucket   = "${var.project}-settle-templates"
  template_path      = "gs://${local.templates_bucket}/templates/settle-${var.source_name}.json"
  labels = {
    app    = "settle"
    source = var.source_name
  }
}

resource "google_project_service" "apis" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "dataflow.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])
  service            = each.value
  disable_on_destroy = false
}

# The cursor store: window cursors, the run lease and the watermark.
resource "google_firestore_database" "cursors" {
  name                    = "(default)"
  location_id             = local.firestore_location
  type                    = "FIRESTORE_NATIVE"
  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  deletion_policy         = "ABANDON"
  depends_on              = [google_project_service.apis]
}

# The warehouse. The driver edits this dataset only.
resource "google_bigquery_dataset" "warehouse" {
  dataset_id                 = var.dataset
  location                   = local.bigquery_location
  description                = "settle: settlements, quarantine, staging tables and the runs ledger"
  delete_contents_on_destroy = false
  labels                     = local.labels
  depends_on                 = [google_project_service.apis]
}

# The vendor token. Terraform creates the secret, never a version: the
# token must not be in the Terraform state. Add it with
#   printf %s "$TOKEN" | gcloud secrets versions add <secret_id> --data-file=-
resource "google_secret_manager_secret" "vendor_token" {
  secret_id = "settle-${var.source_name}-vendor-token"
  labels    = local.labels
  replication {
    auto {}
  }
  depends_on = [google_project_service.apis]
}

resource "google_artifact_registry_repository" "images" {
  repository_id = "settle"
  location      = var.region
  format        = "DOCKER"
  description   = "settle Flex Template launcher images"
  labels        = local.labels
  depends_on    = [google_project_service.apis]
}
