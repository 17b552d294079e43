# Notebook servers with brokered AWS credentials and notebooks in S3 (hub/spawn.py). Settings from the environment:
#   ACCESS_POLICY_FILE   the access policy YAML (the authenticator's file)                               (required)
#   HUB_SPAWNER          `local` or `kubernetes` (default: kubernetes when running in a cluster, else local)
#   BROKER_URL           the broker as the hub reaches it (default http://127.0.0.1:$BROKER_PORT/services/aws-credentials/)
#   BROKER_URL_FOR_SERVERS  the broker as servers reach it (default BROKER_URL; on Kubernetes through the proxy:
#                        http://proxy-public/services/aws-credentials/)
#   AWS_ENDPOINT_URL_FOR_SERVERS  an AWS endpoint override for servers (default: AWS_ENDPOINT_URL; unset for AWS)
#   AWS_CREDENTIAL_HELPER_COMMAND the credential_process command inside the server (default: per spawner)
#   AWS_CONFIG_FILE_FOR_SERVERS   the AWS config file's path inside the server (default: per spawner)
import os

_policy = os.environ.get("ACCESS_POLICY_FILE")
if not _policy:
    raise SystemExit("The spawner cannot start: ACCESS_POLICY_FILE is not set (the access policy YAML)")

_spawner = os.environ.get("HUB_SPAWNER") or ("kubernetes" if os.environ.get("KUBERNETES_SERVICE_HOST") else "local")
_classes = {"local": "hub.spawn.BrokeredLocalProcessSpawner", "kubernetes": "hub.spawn.BrokeredKubeSpawner"}
if _spawner not in _classes:
    raise SystemExit(f"HUB_SPAWNER={_spawner!r} must be one of: {', '.join(_classes)}")
c.JupyterHub.spawner_class = _classes[_spawner]

_broker_url = os.environ.get("BROKER_URL") or (
    f"http://127.0.0.1:{os.environ.get('BROKER_PORT', '8181')}/services/aws-credentials/"
)
c.BrokeredAWSMixin.access_policy_file = _policy
c.BrokeredAWSMixin.broker_url = _broker_url
c.BrokeredAWSMixin.broker_url_for_servers = os.environ.get("BROKER_URL_FOR_SERVERS", _broker_url)
c.BrokeredAWSMixin.aws_endpoint_url = os.environ.get(
    "AWS_ENDPOINT_URL_FOR_SERVERS", os.environ.get("AWS_ENDPOINT_URL", "")
)
if os.environ.get("AWS_CREDENTIAL_HELPER_COMMAND"):
    c.BrokeredAWSMixin.helper_command = os.environ["AWS_CREDENTIAL_HELPER_COMMAND"]
if os.environ.get("AWS_CONFIG_FILE_FOR_SERVERS"):
    c.BrokeredAWSMixin.aws_config_file = os.environ["AWS_CONFIG_FILE_FOR_SERVERS"]
