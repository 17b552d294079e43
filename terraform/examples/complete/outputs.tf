output "hub_service_account_annotations" {
  description = <<-EOT
    Goes on the hub's Kubernetes service account (hub.serviceAccount.annotations; helm_values carries it, and
    helm/generate_values.py writes it). EKS then gives the hub pod, and so the credential broker, the broker role's
    credentials.
  EOT
  value       = module.broker_role.service_account_annotations
}

output "helm_values" {
  description = <<-EOT
    The AWS part of the Zero to JupyterHub values: hub.serviceAccount.annotations (the broker role, IRSA) and, in
    hub.extraEnv, the broker's AWS SDK settings (region, session name). helm/generate_values.py reads it from
    `terraform output -json` and writes the deployment's values file with it (helm/README.md); no pasting.
  EOT
  value = join("\n", [
    "# From terraform output -raw helm_values (terraform/examples/complete), for the Zero to JupyterHub chart.",
    "# The hub's service account assumes the credential broker's role through IRSA; the broker (a hub-managed",
    "# service) receives the AWS_* variables below.",
    yamlencode({
      hub = {
        serviceAccount = {
          annotations = module.broker_role.service_account_annotations
        }
        extraEnv = merge(
          { AWS_REGION = local.deployment.aws_region, AWS_STS_REGIONAL_ENDPOINTS = "regional" },
          var.broker_session_name == null ? {} : { AWS_ROLE_SESSION_NAME = var.broker_session_name },
        )
      }
    }),
  ])
}

output "access_role_arns" {
  description = <<-EOT
    Access group name => IAM role ARN. Nothing to paste: the hub computes the same ARNs from the access policy file
    (deployment.role_name_prefix + role). Use them for break-glass CLI profiles, and to check the hub agrees.
  EOT
  value       = module.access_roles.role_arns
}

output "iam_group_names" {
  description = <<-EOT
    Access group name => IAM group. Add break-glass or CLI users to a group
    (`aws iam add-user-to-group --group-name <group> --user-name <user>`); they may then assume that group's role,
    with their own user name as source identity and `user` session tag.
  EOT
  value       = module.access_roles.iam_group_names
}

output "broker_role_arn" {
  description = "The credential broker's role (it is in hub_service_account_annotations and helm_values)."
  value       = module.broker_role.role_arn
}

output "notebook_bucket" {
  description = "The notebook bucket, as named in the access policy file (deployment.notebook_bucket): nothing to paste, the hub reads the file."
  value       = module.notebook_bucket.bucket_name
}

output "revocation_policy_arn" {
  description = "The revocations policy on every access role, which the broker versions (`entra-access revoke`). Nothing to paste: the hub computes the same ARN."
  value       = module.access_roles.revocation_policy_arn
}
