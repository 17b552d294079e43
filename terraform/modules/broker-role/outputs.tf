output "role_arn" {
  description = "ARN of the broker's role. It goes on the hub's service account: see service_account_annotations."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the broker's role."
  value       = aws_iam_role.this.name
}

output "service_account_annotations" {
  description = <<-EOT
    Annotations for the hub's Kubernetes service account, which make EKS give the hub pod (and so the broker) this
    role's credentials. In Zero to JupyterHub values: hub.serviceAccount.annotations.
  EOT
  value       = { "eks.amazonaws.com/role-arn" = aws_iam_role.this.arn }
}
