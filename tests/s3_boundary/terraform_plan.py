"""The access roles' permission policies exactly as Terraform writes them: read from a plan of the repository's example.

No second builder of the documents: the tier plans `terraform/examples/complete` for its access policy file (against
a throwaway moto server, which only answers the plan's account and partition look-ups) and takes each
``module.access_roles.aws_iam_role_policy.this[<group>]`` policy text from ``terraform show -json``. A change to the
Terraform module is what this tier tests, the next time it runs.
"""

import json
import os
from pathlib import Path

from tests.fixtures.servers import start_moto, stop
from tests.terraform.conftest import Terraform, copy_tree, terraform_env

ROLE_POLICY = "module.access_roles.aws_iam_role_policy.this"


def planned_resources(module: dict):
    yield from module.get("resources", [])
    for child in module.get("child_modules", []):
        yield from planned_resources(child)


def role_policies_from_plan(plan: dict) -> dict[str, str]:
    """Access group name -> the role permission policy text in ``plan`` (``terraform show -json``)."""
    found = {}
    for resource in planned_resources(plan["planned_values"]["root_module"]):
        if resource["address"].startswith(f"{ROLE_POLICY}["):
            found[resource["index"]] = resource["values"]["policy"]
    return found


def plan_role_policies(binary: str, policy_file: Path, workdir: Path) -> dict[str, str]:
    """Plan the example for ``policy_file`` and return its role permission policies (pure reads, nothing applied)."""
    copy_tree(workdir)
    tf = Terraform(binary, workdir, terraform_env())
    example = tf.dir("examples/complete")
    tf.init(example)
    endpoint, moto = start_moto(workdir)
    try:
        variables = workdir / "plan.tfvars.json"
        variables.write_text(
            json.dumps(
                {
                    "access_policy_file": str(policy_file),
                    "aws_endpoints": {"iam": endpoint, "sts": endpoint, "s3": endpoint},
                    "oidc_provider_arn": "arn:aws:iam::123456789012:oidc-provider/oidc.example",
                    "oidc_provider_url": "https://oidc.example",
                }
            )
        )
        moto_keys = {"AWS_ACCESS_KEY_ID": "plan-only", "AWS_SECRET_ACCESS_KEY": "plan-only"}
        plan = workdir / "example.tfplan"
        tf.run(example, "plan", "-input=false", "-no-color", f"-var-file={variables}", f"-out={plan}", env=moto_keys)
        shown = tf.run(example, "show", "-json", os.fspath(plan), env=moto_keys)
    finally:
        stop(moto)
    return role_policies_from_plan(json.loads(shown.stdout))
