# Deployment targets, included from the top-level Makefile:
#
#   include launcher/deploy/deploy.mk
#
# Order in a fresh project (launcher/deploy/README.md has the whole story):
#   make deploy-infra         Terraform: buckets, Firestore, BigQuery, secret,
#                             service accounts, scheduler (paused), alerts
#   make template-build       Cloud Build: the launcher image, pushed to Artifact Registry
#   make template-publish     the Flex Template spec (image + metadata.json) in GCS
#   (add the token as a secret version, run the first run with --from, unpause)
#
# Every variable can be overridden: make template-build DEPLOY_PROJECT=my-proj

GO ?= go
DEPLOY_PROJECT ?= $(shell gcloud config get-value project 2>/dev/null)
DEPLOY_REGION ?= europe-west1
DEPLOY_SOURCE ?= settlements
DEPLOY_TF_DIR ?= launcher/deploy/terraform
DEPLOY_AR_REPO ?= settle
DEPLOY_TAG ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || date -u +%Y%m%dT%H%M%SZ)
DEPLOY_IMAGE ?= $(DEPLOY_REGION)-docker.pkg.dev/$(DEPLOY_PROJECT)/$(DEPLOY_AR_REPO)/settle-launcher:$(DEPLOY_TAG)
DEPLOY_TEMPLATE_BUCKET ?= $(DEPLOY_PROJECT)-settle-templates
# The scheduler launches this path (Terraform output template_path); keep them equal.
DEPLOY_TEMPLATE ?= gs://$(DEPLOY_TEMPLATE_BUCKET)/templates/settle-$(DEPLOY_SOURCE).json
DEPLOY_LAUNCHER_BASE ?= gcr.io/dataflow-templates-base/go-template-launcher-base:latest
DEPLOY_VENDOR_URL ?=
DEPLOY_ALERT_EMAIL ?=
DEPLOY_PAUSED ?= true
DEPLOY_TF_VARS ?= -var=project=$(DEPLOY_PROJECT) -var=region=$(DEPLOY_REGION) -var=source_name=$(DEPLOY_SOURCE) \
	-var=vendor_url=$(DEPLOY_VENDOR_URL) -var=alert_email=$(DEPLOY_ALERT_EMAIL) -var=scheduler_paused=$(DEPLOY_PAUSED)
# template-run: the first run of a new project needs a start (RFC 3339); later runs derive it.
DEPLOY_FROM ?=

.PHONY: template-build template-publish template-check template-run deploy-infra deploy-plan tf-fmt tf-validate

define deploy_need_project
	@if [ -z "$(DEPLOY_PROJECT)" ]; then echo "set DEPLOY_PROJECT (or gcloud config set project ...)"; exit 64; fi
endef

## template-build: build the launcher image (settle, cgo off, linux/amd64) with Cloud Build and push it
template-build:
	$(deploy_need_project)
	gcloud builds submit --project=$(DEPLOY_PROJECT) --region=$(DEPLOY_REGION) \
		--config=launcher/deploy/cloudbuild.yaml \
		--ignore-file=launcher/deploy/.gcloudignore \
		--substitutions=_IMAGE=$(DEPLOY_IMAGE),_LAUNCHER_BASE=$(DEPLOY_LAUNCHER_BASE) .
	@echo "image: $(DEPLOY_IMAGE)"

## template-publish: write the Flex Template spec (the image above + metadata.json) to DEPLOY_TEMPLATE
template-publish: template-check
	$(deploy_need_project)
	gcloud dataflow flex-template build $(DEPLOY_TEMPLATE) --project=$(DEPLOY_PROJECT) \
		--image=$(DEPLOY_IMAGE) --sdk-language=GO \
		--metadata-file=launcher/deploy/metadata.json
	@echo "template: $(DEPLOY_TEMPLATE) -> $(DEPLOY_IMAGE)"

## template-check: offline checks of metadata.json against the launcher's flags (part of make test too)
template-check:
	$(GO) test -count=1 -run 'TestMetadata' ./launcher

## template-run: launch the template once, now, as the scheduler does (DEPLOY_FROM=... for the first run or a backfill)
template-run:
	$(deploy_need_project)
	@params=$$(terraform -chdir=$(DEPLOY_TF_DIR) output -json launch_parameters | \
		python3 -c 'import json,sys; p=json.load(sys.stdin); print("^~^" + "~".join(k + "=" + v for k, v in sorted(p.items())))'); \
	driver=$$(terraform -chdir=$(DEPLOY_TF_DIR) output -json service_accounts | python3 -c 'import json,sys; print(json.load(sys.stdin)["driver"])'); \
	bucket=$$(terraform -chdir=$(DEPLOY_TF_DIR) output -raw dataflow_bucket); \
	set -x; gcloud dataflow flex-template run settle-$(DEPLOY_SOURCE)-driver --project=$(DEPLOY_PROJECT) --region=$(DEPLOY_REGION) \
		--template-file-gcs-location=$(DEPLOY_TEMPLATE) --service-account-email=$$driver \
		--staging-location=gs://$$bucket/staging --temp-location=gs://$$bucket/tmp --num-workers=1 --max-workers=1 \
		--parameters="$$params$(if $(DEPLOY_FROM),~from=$(DEPLOY_FROM))"

## deploy-plan / deploy-infra: Terraform plan / apply of launcher/deploy/terraform
deploy-plan:
	$(deploy_need_project)
	@if [ -z "$(DEPLOY_VENDOR_URL)" ]; then echo "set DEPLOY_VENDOR_URL=https://..."; exit 64; fi
	terraform -chdir=$(DEPLOY_TF_DIR) init -input=false
	terraform -chdir=$(DEPLOY_TF_DIR) plan -input=false $(DEPLOY_TF_VARS)

deploy-infra:
	$(deploy_need_project)
	@if [ -z "$(DEPLOY_VENDOR_URL)" ]; then echo "set DEPLOY_VENDOR_URL=https://..."; exit 64; fi
	terraform -chdir=$(DEPLOY_TF_DIR) init -input=false
	terraform -chdir=$(DEPLOY_TF_DIR) apply -input=false $(DEPLOY_TF_VARS)

## tf-fmt: terraform fmt -check (offline); tf-validate needs the google provider (registry access)
tf-fmt:
	terraform -chdir=$(DEPLOY_TF_DIR) fmt -check -diff

tf-validate:
	terraform -chdir=$(DEPLOY_TF_DIR) init -input=false -backend=false
	terraform -chdir=$(DEPLOY_TF_DIR) validate
