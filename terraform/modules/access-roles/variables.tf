variable "access_policy" {
  description = <<-EOT
    The validated access policy: the `policy` output of the access-policy module (which reads the file the hub
    reads). One role and one IAM group are created per entry of `access_groups`.
  EOT
  type = object({
    source = string
    deployment = object({
      aws_account_id   = string
      aws_region       = string
      aws_partition    = string
      role_name_prefix = string
      notebook_bucket  = string
      home_prefix      = string
    })
    access_groups = list(object({
      name                     = string
      entra_group_id           = string
      role_name                = string
      role_arn                 = string
      session_duration_seconds = number
      s3 = list(object({
        bucket = string
        prefix = string
        access = string
      }))
    }))
  })
  nullable = false
}

variable "broker_role_arn" {
  description = <<-EOT
    ARN of the credential broker's role (the broker-role module). Its sessions may assume every access role, and
    only with a source identity and the `user` and `access-group` session tags.
  EOT
  type        = string
  nullable    = false
}

variable "broker_session_name" {
  description = <<-EOT
    The role-session name the broker uses for its own session (AWS_ROLE_SESSION_NAME in the hub's environment), or
    null. When set, the trust policies also name that session as a principal. On AWS this changes nothing: the
    account principal with the aws:PrincipalArn condition already admits every session of the broker role (the
    broker's own policy grants the call). It makes the expected caller explicit in the policy and lets emulators
    that match principals literally (moto, used by the tests and the local stack) evaluate the trust policies.
  EOT
  type        = string
  default     = null
}

variable "kms_key_arns" {
  description = <<-EOT
    KMS keys that encrypt the S3 locations (the notebook bucket's key when it uses SSE-KMS). The roles may use
    them for S3 only (kms:ViaService). Empty for SSE-S3.
  EOT
  type        = list(string)
  default     = []
  nullable    = false
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary to set on every access role, if your account requires one."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every role (IAM groups cannot be tagged). Each role also gets `access-group` and `entra-group-id`."
  type        = map(string)
  default     = {}
  nullable    = false
}
