variable "access_policy_file" {
  description = <<-EOT
    Path of the access policy YAML, the file the hub reads too. A relative path is relative to the directory
    Terraform runs in. Check it with `entra-access check --policy FILE` before planning: this module checks only what
    AWS would refuse or get wrong (README.md).
  EOT
  type        = string
  nullable    = false

  validation {
    condition     = trimspace(var.access_policy_file) != ""
    error_message = "access_policy_file is empty. Fix: set it to the path of the access policy YAML."
  }
}
