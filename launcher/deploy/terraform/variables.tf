variable "project" {
  description = "Google Cloud project ID to deploy into."
  type        = string
}

variable "region" {
  description = "Region of Dataflow, Cloud Scheduler, the buckets and Artifact Registry, e.g. europe-west1."
  type        = string
}

variable "source_name" {
  description = "Stream name (settle --source): cursor keys, raw object names, job names. Lower case, digits and '-' (it is part of the Dataflow job names)."
  type        = string
  default     = "settlements"
  validation {
    condition     = can(regex("^[a-z][-a-z0-9]{0,40}[a-z0-9]$", var.source_name))
    error_message = "source_name: lower case letters, digits and '-', starting with a letter."
  }
}

variable "vendor_url" {
  description = "HTTPS base URL of the vendor's Settlements API."
  type        = string
  validation {
    condition     = can(regex("^https://", var.vendor_url))
    error_message = "vendor_url must be an https:// URL."
  }
}

variable "firestore_location" {
  description = "Location of the Firestore (default) database, e.g. eur3 or europe-west1. Empty means var.region."
  type        = string
  default     = ""
}

variable "bigquery_location" {
  description = "Location of the BigQuery dataset, e.g. EU or europe-west1. Empty means var.region."
  type        = string
  default     = ""
}

variable "dataset" {
  description = "BigQuery dataset of the warehouse (settle --dataset)."
  type        = string
  default     = "settlements"
}

variable "firestore_collection" {
  description = "Firestore collection of the cursor store (settle --firestore-collection)."
  type        = string
  default     = "settle-cursors"
}

variable "raw_noncurrent_days" {
  description = "Days a replaced or deleted raw-zone object version is kept (the raw zone is versioned; the worker cannot delete)."
  type        = number
  default     = 400
}

variable "staging_days" {
  description = "Days the NDJSON load files under staging/ are kept (BigQuery holds the staged rows after the load)."
  type        = number
  default     = 14
}

variable "schedule" {
  description = "Cron schedule of the run (UTC). Ten past the hour: with the vendor's 10 minute visibility lag the run reads whole hours."
  type        = string
  default     = "10 * * * *"
}

variable "scheduler_paused" {
  description = "Create the scheduler job paused. Unpause (set false) after the token is in the secret and the first run (with --from) has set the watermark."
  type        = bool
  default     = true
}

variable "max_workers" {
  description = "Worker cap of the ingest and process jobs. The vendor's limit is divided over the workers that can fetch at once."
  type        = number
  default     = 4
}

variable "worker_machine_type" {
  description = "Machine type of the ingest and process workers."
  type        = string
  default     = "e2-standard-2"
}

variable "driver_machine_type" {
  description = "Machine type of the one driver worker (it only orchestrates)."
  type        = string
  default     = "e2-small"
}

variable "network" {
  description = "VPC network of the Dataflow workers; empty means default."
  type        = string
  default     = ""
}

variable "subnetwork" {
  description = "Subnetwork of the Dataflow workers (regions/REGION/subnetworks/NAME); empty means default."
  type        = string
  default     = ""
}

variable "no_public_ips" {
  description = "Workers without public IPs (the subnetwork needs Private Google Access and a NAT route to the vendor)."
  type        = bool
  default     = false
}

variable "grant_dataset_create" {
  description = "Grant the driver roles/bigquery.user (which includes bigquery.datasets.create). Needed while the BigQuery back end calls Dataset.Create on an existing dataset at start; set false once it checks existence first."
  type        = bool
  default     = true
}

variable "freshness_threshold_seconds" {
  description = "Alert when the watermark is older than this: the finance deadline minus the time a run and a human response take. 4 h by default."
  type        = number
  default     = 14400
}

variable "parked_windows_threshold" {
  description = "Alert when more windows than this are parked on dead letters."
  type        = number
  default     = 0
}

variable "alert_email" {
  description = "E-mail address for alert notifications; empty to use only notification_channels."
  type        = string
  default     = ""
}

variable "notification_channels" {
  description = "Existing Cloud Monitoring notification channel IDs (projects/P/notificationChannels/N)."
  type        = list(string)
  default     = []
}

variable "failure_rate_threshold" {
  description = "Alert when more than this share of the runs in failure_rate_window_seconds failed (settle status: --failure-warn)."
  type        = number
  default     = 0.2
}

variable "failure_rate_window_seconds" {
  description = "Window of the failure rate alert, seconds (a multiple of 60)."
  type        = number
  default     = 21600
}
