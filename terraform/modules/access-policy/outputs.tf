output "policy" {
  description = <<-EOT
    The access policy as Terraform reads it: `deployment` (account, region, partition, role_name_prefix,
    notebook_bucket, home_prefix, with defaults filled in) and `access_groups` in file order, each with its IAM
    `role_name` (role_name_prefix + role), `role_arn` (the ARN the hub computes), lowercased `entra_group_id` and
    `s3` locations. Feed it to the access-roles module. Planning fails while the file breaks a rule AWS would refuse
    (see README.md); the file's full check is `entra-access check --policy FILE`.
  EOT
  value       = local.policy

  precondition {
    condition     = length(local.messages) == 0
    error_message = join("\n", [for m in local.messages : "${local.source}: ${m}"])
  }
}
