variable "access_policy_file" {
  description = <<-EOT
    Path of the access policy YAML, the file the hub reads too (ACCESS_POLICY_FILE). A relative path is relative to
    the directory Terraform runs in. The file is validated with the hub's rules (authenticator/access_policy.py): a
    bad file stops `terraform plan` with the file, the key and the fix, in the hub's words.
  EOT
  type        = string
  nullable    = false

  validation {
    condition     = trimspace(var.access_policy_file) != ""
    error_message = "access_policy_file is empty. Fix: set it to the path of the access policy YAML."
  }
}
