variable "bucket_name" {
  description = "Name of the notebook bucket (deployment.notebook_bucket in the access policy file; people's homes live under its home_prefix)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !strcontains(var.bucket_name, "..")
    error_message = "bucket_name must be a valid S3 bucket name: 3-63 lowercase letters, digits, dots, hyphens."
  }
}

variable "kms_key_arn" {
  description = <<-EOT
    KMS key for default encryption (SSE-KMS, with an S3 Bucket Key), or null for SSE-S3 (AES-256, no key to manage).
    With a key, pass it to the access-roles module (kms_key_arns) so that the roles may use it.
  EOT
  type        = string
  default     = null
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which an overwritten or deleted notebook version is removed for good (versioning keeps it until then)."
  type        = number
  default     = 90
  nullable    = false

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which an unfinished multipart upload is aborted (its parts cost storage)."
  type        = number
  default     = 7
  nullable    = false
}

variable "access_log_bucket" {
  description = <<-EOT
    Bucket that receives S3 server access logs for the notebook bucket, or null for no access logging. It must
    allow the S3 logging service to write (https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html).
    CloudTrail data events are the alternative.
  EOT
  type        = string
  default     = null
}

variable "access_log_prefix" {
  description = "Key prefix of the access logs in access_log_bucket; null means s3-access-logs/<bucket name>/."
  type        = string
  default     = null
}

variable "deny_insecure_transport" {
  description = <<-EOT
    Attach the bucket policy that denies every request made without TLS (aws:SecureTransport). Keep true on AWS.
    false only for an emulator that cannot evaluate the condition: moto 5.2 reads this Deny as unconditional and
    refuses every object request, so a local stack on moto sets it to false.
  EOT
  type        = bool
  default     = true
  nullable    = false
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the bucket with every notebook and version in it. Keep false outside tests."
  type        = bool
  default     = false
  nullable    = false
}

variable "tags" {
  description = "Tags for the bucket."
  type        = map(string)
  default     = {}
  nullable    = false
}
