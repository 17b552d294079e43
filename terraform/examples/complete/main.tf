# One deployment, wired from one access policy file: the access roles and their IAM groups, the credential broker's
# role (IRSA for the hub's service account) and the notebook bucket. The outputs are what goes into the Helm values.

module "access_policy" {
  source = "../../modules/access-policy"

  access_policy_file = var.access_policy_file
}

locals {
  policy      = module.access_policy.policy
  deployment  = local.policy.deployment
  broker_name = coalesce(var.broker_role_name, "${local.deployment.role_name_prefix}credential-broker")
}

provider "aws" {
  # The account and region are the access policy file's; the access-roles module refuses credentials for another account.
  region = local.deployment.aws_region

  # Emulator support (moto): path-style S3, and no EC2 metadata lookup for credentials.
  s3_use_path_style       = var.aws_endpoints.s3 != null
  skip_metadata_api_check = var.aws_endpoints.iam != null || var.aws_endpoints.sts != null || var.aws_endpoints.s3 != null

  endpoints {
    iam = var.aws_endpoints.iam
    sts = var.aws_endpoints.sts
    s3  = var.aws_endpoints.s3
  }
}

module "notebook_bucket" {
  source = "../../modules/notebook-bucket"

  bucket_name                        = local.deployment.notebook_bucket
  kms_key_arn                        = var.notebook_bucket_kms_key_arn
  access_log_bucket                  = var.notebook_bucket_access_log_bucket
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  deny_insecure_transport            = var.notebook_bucket_deny_insecure_transport
  force_destroy                      = var.notebook_bucket_force_destroy
  tags                               = var.tags
}

module "broker_role" {
  source = "../../modules/broker-role"

  name              = local.broker_name
  oidc_provider_arn = var.oidc_provider_arn
  oidc_provider_url = var.oidc_provider_url
  namespace         = var.hub_namespace
  service_account   = var.hub_service_account
  access_role_arns  = values(module.access_roles.role_arns)
  tags              = var.tags

  revocation_policy_arn = module.access_roles.revocation_policy_arn
}

module "access_roles" {
  source = "../../modules/access-roles"

  access_policy       = local.policy
  broker_role_arn     = module.broker_role.role_arn
  broker_session_name = var.broker_session_name
  kms_key_arns        = var.notebook_bucket_kms_key_arn == null ? [] : [var.notebook_bucket_kms_key_arn]
  tags                = var.tags
}
