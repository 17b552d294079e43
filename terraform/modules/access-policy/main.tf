# Reads the access policy file, the one the hub reads, and hands it on as Terraform needs it: typed, the hub's
# defaults filled in, and each group's IAM role name and ARN.
#
# The file's rules live in one place, the hub's (authenticator/access_policy.py), and run as
# `entra-access check --policy FILE` before a change is deployed. Here only what Terraform needs to create correct
# resources: the keys it reads with the types it needs, and the rules whose breach AWS itself would refuse half-way
# through an apply, or would accept and get wrong (README.md says which). A breach stops `terraform plan` with lines in
# the hub's format, "<file>: <key>: <problem>. Fix: <fix>", one per problem.
# ref: https://developer.hashicorp.com/terraform/language/expressions/custom-conditions#preconditions-and-postconditions

locals {
  source = var.access_policy_file
  text   = try(file(var.access_policy_file), null)
  doc    = try(yamldecode(local.text), null)
  dep    = try(local.doc.deployment, null)

  # The hub's defaults (authenticator/access_policy.py): an optional key left out, or written without a value, means
  # its default (role_name_prefix: only left out).
  partition        = try(coalesce(local.dep.aws_partition), "aws")
  home_prefix      = try(coalesce(local.dep.home_prefix), "home/")
  role_name_prefix = try(tostring(lookup(local.dep, "role_name_prefix", "")), null)
  default_session  = 3600

  # The file as Terraform reads it; null when a key it needs is missing or has a type it cannot convert.
  deployment = try({
    aws_account_id   = tostring(local.dep.aws_account_id)
    aws_region       = tostring(local.dep.aws_region)
    aws_partition    = tostring(local.partition)
    role_name_prefix = tostring(local.role_name_prefix)
    notebook_bucket  = tostring(local.dep.notebook_bucket)
    home_prefix      = tostring(local.home_prefix)
  }, null)
  access_groups = try([for i, g in local.doc.access_groups : {
    label                    = "access_groups[${i}] (${g.name})"
    name                     = tostring(g.name)
    entra_group_id           = lower(g.entra_group_id)
    display_name             = tostring(g.display_name)
    description              = try(coalesce(g.description), "")
    role                     = tostring(g.role)
    role_name                = "${local.deployment.role_name_prefix}${g.role}"
    role_arn                 = "arn:${local.deployment.aws_partition}:iam::${local.deployment.aws_account_id}:role/${local.deployment.role_name_prefix}${g.role}"
    session_duration_seconds = tonumber(lookup(g, "session_duration_seconds", local.default_session))
    hub_admin                = tobool(lookup(g, "hub_admin", false))
    s3 = [for l in lookup(g, "s3", []) : {
      bucket = tostring(l.bucket)
      prefix = tostring(l.prefix)
      access = tostring(l.access)
    }]
  }], null)
  readable = local.deployment != null && local.access_groups != null
  groups   = local.readable ? local.access_groups : []

  # ---- what AWS would refuse, or accept and get wrong (each list empty when all is well) --------------------------
  # ref: https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html (RoleName, MaxSessionDuration)
  # ref: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
  # ref: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html (wildcards)
  role_names = [for g in local.groups : lower(g.role_name)]
  problems = !local.readable ? [] : concat(
    [for g in local.groups : "${g.label}.role: IAM role name '${g.role_name}' is longer than 64 characters or has characters other than A-Z a-z 0-9 + = , . @ _ -, and IAM refuses it. Fix: use a shorter role (or role_name_prefix) of those characters"
    if !can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", g.role_name))],
    [for i, g in local.groups : "${g.label}.role: IAM role name '${g.role_name}' is already used by ${local.groups[index(local.role_names, lower(g.role_name))].label} (IAM role names ignore case), and IAM refuses a second. Fix: give every access group its own role"
    if index(local.role_names, lower(g.role_name)) != i],
    [for i, g in local.groups : "${g.label}.name: duplicate name '${g.name}', already used by ${local.groups[index(local.groups[*].name, g.name)].label}, and Terraform names each group's resources by it. Fix: give every access group its own name"
    if index(local.groups[*].name, g.name) != i],
    [for g in local.groups : "${g.label}.session_duration_seconds: ${g.session_duration_seconds} is longer than IAM's longest role session, 43200 s. Fix: use at most 43200 (12 hours)"
    if g.session_duration_seconds > 43200],
    can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", local.deployment.notebook_bucket)) && !strcontains(local.deployment.notebook_bucket, "..") ? [] : [
      "deployment.notebook_bucket: '${local.deployment.notebook_bucket}' is not a valid S3 bucket name, and S3 refuses to create it. Fix: use 3-63 lowercase letters, digits, dots, hyphens"
    ],
    can(regex("[*?]", local.deployment.home_prefix)) ? [
      "deployment.home_prefix: '${local.deployment.home_prefix}' has a '*' or '?', which IAM reads as a wildcard: the roles would reach other prefixes too. Fix: use a prefix without them"
    ] : [],
    flatten([for g in local.groups : [
      for j, l in g.s3 : "${g.label}.s3[${j}].prefix: '${l.prefix}' has a '*' or '?', which IAM reads as a wildcard: the role would reach other prefixes too. Fix: use a prefix without them"
      if can(regex("[*?]", l.prefix))
    ]]),
  )
  messages = concat(
    local.text == null ? ["(file): cannot be read. Fix: point access_policy_file at the policy YAML"] : [],
    local.text != null && !local.readable ? [
      "(file): is not an access policy Terraform can read (not YAML, or a key missing or of the wrong type). Fix: run `entra-access check --policy ${local.source}`, which names the key and the fix"
    ] : [],
    local.problems,
  )

  policy = !local.readable ? null : {
    source        = local.source
    deployment    = local.deployment
    access_groups = [for g in local.access_groups : { for k, v in g : k => v if k != "label" }]
  }
}
