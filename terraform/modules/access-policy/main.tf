# Reads the access policy file and checks it with the hub's rules. authenticator/access_policy.py is the contract:
# the same keys, patterns and limits, and the same words. Pure: no provider, no resources.
#
# Every problem becomes one line "<file>: <key>: <problem>. Fix: <fix>" (the hub's AccessPolicyError text; the hub
# stops at the first problem, this lists them all). The `policy` output carries a precondition, so while any problem
# remains nothing that reads the policy is planned: `terraform plan` fails with those lines and nothing else.
# ref: https://developer.hashicorp.com/terraform/language/expressions/custom-conditions#preconditions-and-postconditions

locals {
  source = var.access_policy_file

  # The hub's constants (authenticator/access_policy.py).
  supported_version    = 1
  default_home_prefix  = "home/"
  default_session      = 3600
  min_session          = 900
  max_session          = 43200
  max_role_name_length = 64
  partitions           = ["aws", "aws-cn", "aws-us-gov"]
  partitions_text      = "('aws', 'aws-cn', 'aws-us-gov')"
  access_levels        = ["read", "read-write"]
  re_guid              = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
  re_group_name        = "^[a-z][a-z0-9-]{0,30}[a-z0-9]$"
  re_role_chars        = "^[A-Za-z0-9+=,.@_-]*$"
  re_account           = "^[0-9]{12}$"
  re_region            = "^[a-z]{2}(-[a-z]+)+-[0-9]$"
  re_bucket            = "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
  re_prefix            = "^[A-Za-z0-9!_.*'()/-]+/$"

  top_keys        = ["access_groups", "deployment", "version"]
  deployment_keys = ["aws_account_id", "aws_partition", "aws_region", "home_prefix", "notebook_bucket", "role_name_prefix"]
  group_keys      = ["description", "display_name", "entra_group_id", "hub_admin", "name", "role", "s3", "session_duration_seconds"]
  location_keys   = ["access", "bucket", "prefix"]

  # ---- the file ---------------------------------------------------------------------------------------------------
  text    = try(file(var.access_policy_file), null)
  yaml_ok = local.text != null && can(yamldecode(local.text))
  doc     = local.yaml_ok ? yamldecode(local.text) : null
  top_ok  = can(keys(local.doc))

  file_problems = concat(
    local.text == null ? [{
      key     = "(file)"
      problem = fileexists(var.access_policy_file) ? "cannot be read" : "cannot be read (No such file or directory)"
      fix     = "point access_policy_file at the policy YAML"
    }] : [],
    local.text != null && !local.yaml_ok ? [{
      key = "(file)", problem = "is not valid YAML", fix = "correct the YAML syntax there"
    }] : [],
    local.yaml_ok && !local.top_ok ? [{
      key = "(top level)", problem = "must be a mapping", fix = "start from the documented example in the README"
    }] : [],
    [for k in sort(setsubtract(try(keys(local.doc), []), local.top_keys)) : {
      key = k, problem = "unknown key", fix = "remove it or use one of: ${join(", ", local.top_keys)}"
    }],
    local.top_ok && !try(local.doc.version == local.supported_version, false) ? [{
      key     = "version"
      problem = "must be ${local.supported_version}"
      fix     = "set `version: ${local.supported_version}`"
    }] : [],
  )

  # ---- deployment -------------------------------------------------------------------------------------------------
  dep    = try(local.doc.deployment, null)
  dep_ok = local.top_ok && can(keys(local.dep))
  # try(x.key, default): the default when the key is absent; null when it is present but empty (as YAML `key:`).
  d_account = try(local.dep.aws_account_id, null)
  d_region  = try(local.dep.aws_region, null)
  d_bucket  = try(local.dep.notebook_bucket, null)
  # Optional keys: absent or empty means the default, as in the hub (role_name_prefix: only absent).
  d_partition = try(local.dep.aws_partition, null) == null ? "aws" : local.dep.aws_partition
  d_home      = try(local.dep.home_prefix, null) == null ? local.default_home_prefix : local.dep.home_prefix
  d_prefix    = try(local.dep.role_name_prefix, "")

  d_account_ok    = local.d_account != null && try(local.d_account == tostring(local.d_account), false) && can(regex(local.re_account, local.d_account))
  d_region_text   = local.d_region != null && try(local.d_region == tostring(local.d_region), false) && try(trimspace(local.d_region) != "", false)
  d_region_ok     = local.d_region_text && can(regex(local.re_region, local.d_region))
  d_part_text     = try(local.d_partition == tostring(local.d_partition), false) && try(trimspace(local.d_partition) != "", false)
  d_part_ok       = local.d_part_text && contains(local.partitions, local.d_partition)
  d_prefix_ok     = local.d_prefix != null && try(local.d_prefix == tostring(local.d_prefix), false) && can(regex(local.re_role_chars, local.d_prefix)) && try(length(local.d_prefix) <= 32, false)
  d_bucket_text   = local.d_bucket != null && try(local.d_bucket == tostring(local.d_bucket), false) && try(trimspace(local.d_bucket) != "", false)
  d_bucket_ok     = local.d_bucket_text && can(regex(local.re_bucket, local.d_bucket)) && !strcontains(try(coalesce(tostring(local.d_bucket)), ""), "..")
  d_home_text     = try(local.d_home == tostring(local.d_home), false) && try(trimspace(local.d_home) != "", false)
  d_home_ok       = local.d_home_text && can(regex(local.re_prefix, local.d_home)) && !startswith(try(coalesce(tostring(local.d_home)), ""), "/") && !strcontains(try(coalesce(tostring(local.d_home)), ""), "..")
  role_prefix     = local.d_prefix_ok ? local.d_prefix : ""
  notebook_bucket = local.d_bucket_ok ? local.d_bucket : ""
  home_prefix     = local.d_home_ok ? local.d_home : local.default_home_prefix

  deployment_problems = !local.top_ok ? [] : !local.dep_ok ? [{
    key = "deployment", problem = "is missing or not a mapping", fix = "add the `deployment:` block (account, region, bucket)"
    }] : concat(
    [for k in sort(setsubtract(keys(local.dep), local.deployment_keys)) : {
      key = "deployment.${k}", problem = "unknown key", fix = "remove it or use one of: ${join(", ", local.deployment_keys)}"
    }],
    local.d_account_ok ? [] : [{
      key = "deployment.aws_account_id", problem = "must be a 12-digit AWS account id in quotes", fix = "write it as \"123456789012\""
    }],
    local.d_region == null ? [{ key = "deployment.aws_region", problem = "is missing", fix = "add `aws_region:`" }] : [],
    local.d_region != null && !local.d_region_text ? [{
      key = "deployment.aws_region", problem = "must be a non-empty string", fix = "quote the value"
    }] : [],
    local.d_region_text && !local.d_region_ok ? [{
      key = "deployment.aws_region", problem = "'${local.d_region}' is not an AWS region name", fix = "use a name like eu-west-1"
    }] : [],
    !local.d_part_text ? [{
      key = "deployment.aws_partition", problem = "must be a non-empty string", fix = "quote the value"
    }] : [],
    local.d_part_text && !local.d_part_ok ? [{
      key     = "deployment.aws_partition"
      problem = "'${local.d_partition}' is not an AWS partition"
      fix     = "use one of ${local.partitions_text}"
    }] : [],
    local.d_prefix_ok ? [] : [{
      key     = "deployment.role_name_prefix"
      problem = "must be at most 32 characters of A-Z a-z 0-9 + = , . @ _ -"
      fix     = "use a short prefix such as jupyterhub-"
    }],
    local.d_bucket == null ? [{ key = "deployment.notebook_bucket", problem = "is missing", fix = "add `notebook_bucket:`" }] : [],
    local.d_bucket != null && !local.d_bucket_text ? [{
      key = "deployment.notebook_bucket", problem = "must be a non-empty string", fix = "quote the value"
    }] : [],
    local.d_bucket_text && !local.d_bucket_ok ? [{
      key     = "deployment.notebook_bucket"
      problem = "'${local.d_bucket}' is not a valid S3 bucket name"
      fix     = "use 3-63 lowercase letters, digits, dots, hyphens"
    }] : [],
    !local.d_home_text ? [{
      key = "deployment.home_prefix", problem = "must be a non-empty string", fix = "quote the value"
    }] : [],
    local.d_home_text && !local.d_home_ok ? [{
      key = "deployment.home_prefix", problem = "'${local.d_home}' is not an S3 prefix", fix = "use a relative prefix ending in '/'"
    }] : [],
  )

  # ---- access groups ----------------------------------------------------------------------------------------------
  groups_raw = try(local.doc.access_groups, null)
  groups_ok  = local.groups_raw != null && can(length(local.groups_raw)) && !can(keys(local.groups_raw)) && !can(tostring(local.groups_raw)) && try(length(local.groups_raw) > 0, false)
  groups_problems = local.top_ok && !local.groups_ok ? [{
    key = "access_groups", problem = "must be a non-empty list", fix = "list at least one access group"
  }] : []

  # Stage 1: what each entry says (null where a key is absent or empty).
  group_fields = [for i in range(local.top_ok && local.groups_ok ? length(local.groups_raw) : 0) : {
    index          = i
    is_map         = can(keys(local.groups_raw[i]))
    keys           = try(keys(local.groups_raw[i]), [])
    name           = try(local.groups_raw[i].name, null)
    entra_group_id = try(local.groups_raw[i].entra_group_id, null)
    display_name   = try(local.groups_raw[i].display_name, null)
    description    = try(local.groups_raw[i].description, null)
    role           = try(local.groups_raw[i].role, null)
    duration       = try(local.groups_raw[i].session_duration_seconds, local.default_session)
    hub_admin      = try(local.groups_raw[i].hub_admin, false)
    s3             = try(local.groups_raw[i].s3, [])
  }]

  # Stage 2: what is valid, and the label that names the entry in messages ("access_groups[1] (analysts)").
  group_checks = [for g in local.group_fields : {
    index        = g.index
    is_map       = g.is_map
    keys         = g.keys
    name         = g.name
    name_text    = g.name != null && try(g.name == tostring(g.name), false) && try(trimspace(g.name) != "", false)
    name_ok      = g.name != null && try(g.name == tostring(g.name), false) && can(regex(local.re_group_name, g.name))
    base         = "access_groups[${g.index}]"
    label        = (g.name != null && try(g.name == tostring(g.name), false) && can(regex(local.re_group_name, g.name))) ? "access_groups[${g.index}] (${g.name})" : "access_groups[${g.index}]"
    gid          = g.entra_group_id
    gid_text     = g.entra_group_id != null && try(g.entra_group_id == tostring(g.entra_group_id), false) && try(trimspace(g.entra_group_id) != "", false)
    gid_ok       = g.entra_group_id != null && try(g.entra_group_id == tostring(g.entra_group_id), false) && can(regex(local.re_guid, lower(g.entra_group_id)))
    display_name = g.display_name
    display_ok   = g.display_name != null && try(g.display_name == tostring(g.display_name), false) && try(trimspace(g.display_name) != "", false)
    description  = g.description
    desc_ok      = g.description == null || (try(g.description == tostring(g.description), false) && try(trimspace(g.description) != "", false))
    role         = g.role
    role_text    = g.role != null && try(g.role == tostring(g.role), false) && try(trimspace(g.role) != "", false)
    role_name    = "${local.role_prefix}${try(coalesce(tostring(g.role)), "")}"
    role_ok      = g.role != null && try(g.role == tostring(g.role), false) && can(regex(local.re_role_chars, g.role)) && length("${local.role_prefix}${try(coalesce(tostring(g.role)), "")}") <= local.max_role_name_length
    duration     = g.duration
    duration_ok  = g.duration != null && try(g.duration == tonumber(g.duration), false) && try(floor(g.duration) == g.duration && g.duration >= local.min_session && g.duration <= local.max_session, false)
    hub_admin    = g.hub_admin
    admin_ok     = g.hub_admin == true || g.hub_admin == false
    s3           = g.s3
    s3_ok        = g.s3 != null && can(length(g.s3)) && !can(keys(g.s3)) && !can(tostring(g.s3))
  }]

  group_problems = flatten([for g in local.group_checks : !g.is_map ? [{
    key = g.base, problem = "must be a mapping", fix = "write each access group as `- name: ...` with its keys"
    }] : concat(
    g.name == null ? [{ key = "${g.base}.name", problem = "is missing", fix = "add `name:`" }] : [],
    g.name != null && !g.name_text ? [{ key = "${g.base}.name", problem = "must be a non-empty string", fix = "quote the value" }] : [],
    g.name_text && !g.name_ok ? [{
      key     = "${g.base}.name"
      problem = "'${g.name}' is not a valid short name"
      fix     = "use 2-32 lowercase letters, digits and hyphens, starting with a letter"
    }] : [],
    [for k in sort(setsubtract(g.keys, local.group_keys)) : {
      key = "${g.label}.${k}", problem = "unknown key", fix = "remove it or use one of: ${join(", ", local.group_keys)}"
    }],
    g.gid == null ? [{ key = "${g.label}.entra_group_id", problem = "is missing", fix = "add `entra_group_id:`" }] : [],
    g.gid != null && !g.gid_text ? [{ key = "${g.label}.entra_group_id", problem = "must be a non-empty string", fix = "quote the value" }] : [],
    g.gid_text && !g.gid_ok ? [{
      key     = "${g.label}.entra_group_id"
      problem = "'${g.gid}' is not an Entra group object id"
      fix     = "copy the group's Object ID (a GUID) from the Entra admin center"
    }] : [],
    g.display_name == null ? [{ key = "${g.label}.display_name", problem = "is missing", fix = "add `display_name:`" }] : [],
    g.display_name != null && !g.display_ok ? [{ key = "${g.label}.display_name", problem = "must be a non-empty string", fix = "quote the value" }] : [],
    g.desc_ok ? [] : [{ key = "${g.label}.description", problem = "must be a non-empty string", fix = "quote the value" }],
    g.role == null ? [{ key = "${g.label}.role", problem = "is missing", fix = "add `role:`" }] : [],
    g.role != null && !g.role_text ? [{ key = "${g.label}.role", problem = "must be a non-empty string", fix = "quote the value" }] : [],
    g.role_text && !g.role_ok ? [{
      key     = "${g.label}.role"
      problem = "IAM role name '${g.role_name}' is invalid or longer than ${local.max_role_name_length} characters"
      fix     = "use a shorter role (or role_name_prefix) of A-Z a-z 0-9 + = , . @ _ -"
    }] : [],
    g.duration_ok ? [] : [{
      key     = "${g.label}.session_duration_seconds"
      problem = "must be a whole number of seconds from ${local.min_session} to ${local.max_session}"
      fix     = "use for example 3600 (one hour)"
    }],
    g.admin_ok ? [] : [{ key = "${g.label}.hub_admin", problem = "must be true or false", fix = "write `hub_admin: true` or leave it out" }],
    g.s3_ok ? [] : [{
      key = "${g.label}.s3", problem = "must be a list of S3 locations", fix = "write `s3: []` or list bucket/prefix/access"
    }],
  )])

  # Duplicates, named like the hub does: "access_groups[2] (x).name: duplicate name 'x', already used by access_groups[0] (x)".
  dup_values = {
    name           = [for g in local.group_checks : g.name_ok ? g.name : null]
    entra_group_id = [for g in local.group_checks : g.gid_ok ? lower(g.gid) : null]
    role           = [for g in local.group_checks : g.role_ok ? g.role : null]
  }
  duplicate_problems = flatten([for attr in ["name", "entra_group_id", "role"] : [
    for i, value in local.dup_values[attr] : {
      key     = "${local.group_checks[i].label}.${attr}"
      problem = "duplicate ${attr} '${value}', already used by ${local.group_checks[index(local.dup_values[attr], value)].label}"
      fix     = "give every access group its own ${attr}"
    } if try(index(local.dup_values[attr], value) != i, false)
  ]])

  # ---- S3 locations -----------------------------------------------------------------------------------------------
  location_fields = flatten([for g in local.group_checks : [
    for j in range(g.is_map && g.s3_ok ? length(g.s3) : 0) : {
      group  = g.index
      where  = "${g.label}.s3[${j}]"
      is_map = can(keys(g.s3[j]))
      keys   = try(keys(g.s3[j]), [])
      bucket = try(g.s3[j].bucket, null)
      prefix = try(g.s3[j].prefix, null)
      access = try(g.s3[j].access, null)
    }
  ]])

  location_checks = [for l in local.location_fields : merge(l, {
    bucket_text = l.bucket != null && try(l.bucket == tostring(l.bucket), false) && try(trimspace(l.bucket) != "", false)
    bucket_ok   = l.bucket != null && try(l.bucket == tostring(l.bucket), false) && can(regex(local.re_bucket, l.bucket)) && !strcontains(try(coalesce(tostring(l.bucket)), ""), "..")
    prefix_text = l.prefix != null && try(l.prefix == tostring(l.prefix), false) && try(trimspace(l.prefix) != "", false)
    prefix_ok = (l.prefix != null && try(l.prefix == tostring(l.prefix), false) && can(regex(local.re_prefix, l.prefix))
    && !startswith(try(coalesce(tostring(l.prefix)), ""), "/") && !strcontains(try(coalesce(tostring(l.prefix)), ""), "..") && !strcontains(try(coalesce(tostring(l.prefix)), ""), "*"))
    overlaps_home = (try(coalesce(tostring(l.bucket)), "") == local.notebook_bucket
    && (startswith(try(coalesce(tostring(l.prefix)), ""), local.home_prefix) || startswith(local.home_prefix, try(coalesce(tostring(l.prefix)), "-"))))
    access_ok = try(contains(local.access_levels, l.access), false) && try(l.access == tostring(l.access), false)
  })]

  location_problems = flatten([for l in local.location_checks : !l.is_map ? [{
    key = l.where, problem = "must be a mapping", fix = "write `- {bucket: ..., prefix: ..., access: read}`"
    }] : concat(
    [for k in sort(setsubtract(l.keys, local.location_keys)) : {
      key = "${l.where}.${k}", problem = "unknown key", fix = "remove it or use one of: ${join(", ", local.location_keys)}"
    }],
    l.bucket == null ? [{ key = "${l.where}.bucket", problem = "is missing", fix = "add `bucket:`" }] : [],
    l.bucket != null && !l.bucket_text ? [{ key = "${l.where}.bucket", problem = "must be a non-empty string", fix = "quote the value" }] : [],
    l.bucket_text && !l.bucket_ok ? [{
      key     = "${l.where}.bucket"
      problem = "'${l.bucket}' is not a valid S3 bucket name"
      fix     = "use 3-63 lowercase letters, digits, dots, hyphens"
    }] : [],
    l.prefix == null ? [{ key = "${l.where}.prefix", problem = "is missing", fix = "add `prefix:`" }] : [],
    l.prefix != null && !l.prefix_text ? [{ key = "${l.where}.prefix", problem = "must be a non-empty string", fix = "quote the value" }] : [],
    l.prefix_text && !l.prefix_ok ? [{
      key     = "${l.where}.prefix"
      problem = "'${l.prefix}' is not an S3 prefix"
      fix     = "use a relative prefix ending in '/', without '*' or '..', like shared/analysts/"
    }] : [],
    l.bucket_ok && l.prefix_ok && l.overlaps_home ? [{
      key     = "${l.where}.prefix"
      problem = "s3://${l.bucket}/${l.prefix} overlaps the personal homes under ${local.home_prefix}, so it would expose other people's notebooks"
      fix     = "use a shared prefix outside the home prefix"
    }] : [],
    l.access_ok ? [] : [{
      key     = "${l.where}.access"
      problem = "${l.access == null ? "None" : try("'${tostring(l.access)}'", jsonencode(l.access))} is not an access level"
      fix     = "use `read` or `read-write`"
    }],
  )])

  problems = concat(
    local.file_problems, local.deployment_problems, local.groups_problems, local.group_problems,
    local.location_problems, local.duplicate_problems,
  )
  messages = [for p in local.problems : "${local.source}: ${p.key}: ${p.problem}. Fix: ${p.fix}"]

  # ---- the policy, normalized (meaningful only when there are no problems) ----------------------------------------
  partition  = local.d_part_ok ? local.d_partition : "aws"
  account_id = local.d_account_ok ? local.d_account : ""
  policy = {
    source = local.source
    deployment = {
      aws_account_id   = local.account_id
      aws_region       = local.d_region_ok ? local.d_region : ""
      aws_partition    = local.partition
      role_name_prefix = local.role_prefix
      notebook_bucket  = local.notebook_bucket
      home_prefix      = local.home_prefix
    }
    access_groups = [for g in local.group_checks : {
      name                     = try(coalesce(tostring(g.name)), "")
      entra_group_id           = try(lower(g.gid), "")
      display_name             = try(coalesce(tostring(g.display_name)), "")
      description              = try(coalesce(tostring(g.description)), "")
      role                     = try(coalesce(tostring(g.role)), "")
      role_name                = g.role_name
      role_arn                 = "arn:${local.partition}:iam::${local.account_id}:role/${g.role_name}"
      session_duration_seconds = try(tonumber(g.duration), local.default_session)
      hub_admin                = g.hub_admin == true
      s3 = [for l in local.location_checks : {
        bucket = try(coalesce(tostring(l.bucket)), "")
        prefix = try(coalesce(tostring(l.prefix)), "")
        access = try(coalesce(tostring(l.access)), "")
      } if l.group == g.index]
    }]
  }
}
