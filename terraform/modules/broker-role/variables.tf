variable "name" {
  description = "Name of the credential broker's IAM role."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.name))
    error_message = "name must be 1-64 characters of A-Z a-z 0-9 + = , . @ _ - (an IAM role name)."
  }
}

variable "oidc_provider_arn" {
  description = <<-EOT
    ARN of the EKS cluster's IAM OIDC provider (arn:aws:iam::<account>:oidc-provider/oidc.eks.<region>.amazonaws.com/id/<id>),
    for example the `oidc_provider_arn` output of terraform-aws-modules/eks.
  EOT
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:[a-z-]+:iam::[0-9]{12}:oidc-provider/.+$", var.oidc_provider_arn))
    error_message = "oidc_provider_arn must be an IAM OIDC provider ARN (arn:aws:iam::<account>:oidc-provider/<issuer host and path>)."
  }
}

variable "oidc_provider_url" {
  description = <<-EOT
    The cluster's OIDC issuer URL (`aws eks describe-cluster --name <cluster> --query cluster.identity.oidc.issuer`),
    with or without https://. Its host and path prefix the `sub` and `aud` condition keys.
  EOT
  type        = string
  nullable    = false

  validation {
    condition     = trimprefix(var.oidc_provider_url, "https://") != "" && !strcontains(trimprefix(var.oidc_provider_url, "https://"), "://")
    error_message = "oidc_provider_url must be the issuer URL, like https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE."
  }
}

variable "oidc_audience" {
  description = "The audience of the service account token that EKS mounts for IRSA."
  type        = string
  default     = "sts.amazonaws.com"
  nullable    = false
}

variable "namespace" {
  description = "Kubernetes namespace the hub runs in (the Helm release's namespace)."
  type        = string
  default     = "jupyterhub"
  nullable    = false
}

variable "service_account" {
  description = <<-EOT
    The hub pod's Kubernetes service account (Zero to JupyterHub: `hub`, or hub.serviceAccount.name). The broker runs
    in the hub pod as a hub-managed service, so it holds this service account's token; no other account may assume
    the role.
  EOT
  type        = string
  default     = "hub"
  nullable    = false
}

variable "access_role_arns" {
  description = "The access roles the broker may assume, tag and set a source identity on (the access-roles module's role_arns). Nothing else."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.access_role_arns) > 0 && alltrue([for arn in var.access_role_arns : can(regex("^arn:[a-z-]+:iam::[0-9]{12}:role/.+$", arn))])
    error_message = "access_role_arns must list at least one IAM role ARN."
  }
}

variable "revocation_policy_arn" {
  description = <<-EOT
    The revocations policy (the access-roles module's revocation_policy_arn): the only policy the broker may change,
    by writing new versions of it, to deny revoked people's sessions (`entra-access revoke`).
  EOT
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:[a-z-]+:iam::[0-9]{12}:policy/.+$", var.revocation_policy_arn))
    error_message = "revocation_policy_arn must be an IAM policy ARN (arn:aws:iam::<account>:policy/<name>)."
  }
}

variable "max_session_duration" {
  description = "Maximum session length of the broker's own credentials, in seconds (the SDK refreshes them)."
  type        = number
  default     = 3600
  nullable    = false
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary for the broker's role, if your account requires one."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for the role."
  type        = map(string)
  default     = {}
  nullable    = false
}
