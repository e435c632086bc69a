# Raw zone (raw/, deadletter/) and load files (staging/) of settle.
#
# Raw objects are written once (a does-not-exist precondition) and never
# deleted by the pipeline: the worker may create and read objects but not
# delete them, so it cannot overwrite one either. Versioning (plus soft
# delete) keeps any version a person replaces or deletes for
# raw_noncurrent_days. The load files under staging/ are rewritten by a
# retried bundle, so only that prefix grants the worker delete (the
# bindings in iam.tf), and its files expire after staging_days.
resource "google_storage_bucket" "raw" {
  name                        = local.raw_bucket
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = local.labels

  versioning {
    enabled = true
  }

  soft_delete_policy {
    retention_duration_seconds = 604800
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.raw_noncurrent_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age            = var.staging_days
      matches_prefix = ["staging/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 1
      matches_prefix             = ["staging/"]
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

# Dataflow staging (worker binary, pipeline graphs) and temp files of all
# three jobs, and the Flex Template launches' results. Beam warns about
# soft delete on such buckets, so it is off here.
resource "google_storage_bucket" "dataflow" {
  name                        = local.dataflow_bucket
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = local.labels

  soft_delete_policy {
    retention_duration_seconds = 0
  }

  lifecycle_rule {
    condition {
      age = 7
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

# Flex Template specs (make template-publish writes local.template_path).
resource "google_storage_bucket" "templates" {
  name                        = local.templates_bucket
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = local.labels

  versioning {
    enabled = true
  }

  depends_on = [google_project_service.apis]
}
