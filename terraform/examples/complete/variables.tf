variable "access_policy_file" {
  description = <<-EOT
    The access policy YAML, the same file the hub reads (AccessPolicyFile.path). Roles, IAM groups, the bucket name, the
    account and the region all come from it. A relative path is relative to the directory Terraform runs in; the
    default is the repository's demo policy, relative to this example.
  EOT
  type        = string
  default     = "../../../hub/demo/access-policy.yaml"
  nullable    = false
}

variable "oidc_provider_arn" {
  description = "ARN of the EKS cluster's IAM OIDC provider (IRSA), e.g. the `oidc_provider_arn` output of terraform-aws-modules/eks."
  type        = string
  nullable    = false
}

variable "oidc_provider_url" {
  description = "The EKS cluster's OIDC issuer URL: `aws eks describe-cluster --name <cluster> --query cluster.identity.oidc.issuer --output text`."
  type        = string
  nullable    = false
}

variable "hub_namespace" {
  description = "Kubernetes namespace of the JupyterHub Helm release."
  type        = string
  default     = "jupyterhub"
  nullable    = false
}

variable "hub_service_account" {
  description = "The hub pod's service account (Zero to JupyterHub: `hub` unless hub.serviceAccount.name is set)."
  type        = string
  default     = "hub"
  nullable    = false
}

variable "broker_role_name" {
  description = "Name of the credential broker's role; null means <role_name_prefix>credential-broker."
  type        = string
  default     = null
}

variable "broker_session_name" {
  description = <<-EOT
    Session name the broker uses for its own credentials (AWS_ROLE_SESSION_NAME, set by the helm_values output).
    The access roles' trust policies name that session as well; see the access-roles module. Null leaves it out.
  EOT
  type        = string
  default     = "credential-broker"
}

variable "notebook_bucket_kms_key_arn" {
  description = "KMS key for the notebook bucket's default encryption (SSE-KMS); null for SSE-S3."
  type        = string
  default     = null
}

variable "notebook_bucket_access_log_bucket" {
  description = "Bucket for the notebook bucket's S3 server access logs; null for none."
  type        = string
  default     = null
}

variable "noncurrent_version_expiration_days" {
  description = "Days an overwritten or deleted notebook version is kept."
  type        = number
  default     = 90
  nullable    = false
}

variable "notebook_bucket_deny_insecure_transport" {
  description = "Attach the TLS-only bucket policy. Keep true on AWS; a local stack on moto sets false (moto reads it as deny-all)."
  type        = bool
  default     = true
  nullable    = false
}

variable "notebook_bucket_force_destroy" {
  description = "Let `terraform destroy` delete a bucket that still holds notebooks. Tests only."
  type        = bool
  default     = false
  nullable    = false
}

variable "aws_endpoints" {
  description = <<-EOT
    Endpoint overrides for an AWS emulator such as the moto server (the tests and the local stack), e.g.
    { iam = "http://127.0.0.1:5000", sts = "http://127.0.0.1:5000", s3 = "http://127.0.0.1:5000" }. Empty (the
    default) means real AWS. With an S3 override, S3 is addressed path-style.
  EOT
  type = object({
    iam = optional(string)
    sts = optional(string)
    s3  = optional(string)
  })
  default  = {}
  nullable = false
}

variable "tags" {
  description = "Tags for every resource that takes tags."
  type        = map(string)
  default = {
    application = "jupyterhub"
    managed-by  = "terraform"
  }
  nullable = false
}
