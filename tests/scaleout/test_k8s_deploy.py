"""``deploy/k8s`` on paper, checked by the schemas that would read it: the instance by Dagster's
instance schema and the dagster-k8s run launcher's config type, the worker Deployments by the
Kubernetes client's models (no unknown field anywhere), their commands by ``dp``'s own parser,
and the shared settings by ``dp_resources.settings`` with the Celery-mode shared-state check."""

import json
from pathlib import Path

import pytest
import yaml
from dagster._config import process_config, validate_config
from dagster._config.field_utils import Shape
from dagster._core.instance.config import dagster_instance_config_schema
from dagster_k8s import K8sRunLauncher
import kubernetes.client.models as models
from kubernetes.client import ApiClient, V1Deployment

from dp_assets.cli import build_parser
from dp_assets.scaleout.config import shared_state_problems
from dp_assets.scaleout.queues import CPU_QUEUE, GPU_QUEUE
from dp_resources.settings import Settings

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
SECRETS = {  # what the Secret dataprocessor-secrets holds (placeholders)
    "DAGSTER_PG_URL": "postgresql+psycopg2://dp:pw@postgres:5432/dagster",
    "DP_DATABASE_URL": "postgresql+psycopg2://dp:pw@postgres:5432/dataprocessor",
    "DP_CELERY_BROKER_URL": "amqp://dp:pw@rabbitmq:5672/dataprocessor",
}


def _documents(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def _deserialize(data: dict, kind: str):
    class Response:
        pass

    response = Response()
    response.data = json.dumps(data)
    return ApiClient().deserialize(response, kind)


def _unknown_fields(data, model_class, path="") -> list[str]:
    """Keys of ``data`` that the Kubernetes model ``model_class`` does not have (recursively)."""
    if not hasattr(model_class, "attribute_map"):
        return []
    by_json = {json_key: attr for attr, json_key in model_class.attribute_map.items()}
    unknown = []
    for key, value in data.items():
        if key not in by_json:
            unknown.append(f"{path}{key}")
            continue
        kind = model_class.openapi_types[by_json[key]]
        inner = kind[5:-1] if kind.startswith("list[") else kind
        child = getattr(models, inner, None)
        if child is None or not hasattr(child, "attribute_map"):
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                unknown += _unknown_fields(item, child, f"{path}{key}.")
    return unknown


def test_the_instance_validates_with_dagsters_schema_and_the_k8s_run_launcher(monkeypatch):
    for variable, value in SECRETS.items():
        monkeypatch.setenv(variable, value)
    instance = yaml.safe_load((K8S / "dagster.yaml").read_text())
    result = validate_config(Shape(dagster_instance_config_schema()), instance)
    assert result.success, [e.message for e in result.errors]

    launcher = instance["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    processed = process_config(K8sRunLauncher.config_type(), launcher["config"])
    assert processed.success, [e.message for e in processed.errors]
    config = processed.value
    assert config["env_config_maps"] == ["dataprocessor-env"] and config["env_secrets"] == ["dataprocessor-secrets"]
    # the run pod only orchestrates: it stays on CPU nodes
    assert config["run_k8s_config"]["pod_spec_config"]["node_selector"] == {"dataprocessor/pool": "cpu"}


def test_the_workers_split_cpu_and_gpu_queues_with_a_gpu_node_selector():
    deployments = {d["metadata"]["name"]: d for d in _documents("workers.yaml")}
    assert set(deployments) == {"dp-worker-cpu", "dp-worker-gpu"}
    parser = build_parser()
    queues = {}
    for name, manifest in deployments.items():
        assert _unknown_fields(manifest, V1Deployment) == [], name
        deployment = _deserialize(manifest, "V1Deployment")
        pod = deployment.spec.template.spec
        (container,) = pod.containers
        assert container.args[0] == "dp"
        args = parser.parse_args(container.args[1:])
        assert args.command == "worker"
        queues[name] = args.queues.split(",")
        env_sources = {s.config_map_ref.name if s.config_map_ref else s.secret_ref.name for s in container.env_from}
        assert env_sources == {"dataprocessor-env", "dataprocessor-secrets"}
        limits = container.resources.limits
        if name == "dp-worker-gpu":
            assert pod.node_selector == {"nvidia.com/gpu.present": "true"} and str(limits["nvidia.com/gpu"]) == "1"
        else:
            assert "nvidia.com/gpu" not in limits and "nvidia.com/gpu.present" not in (pod.node_selector or {})
    assert queues == {"dp-worker-cpu": [CPU_QUEUE], "dp-worker-gpu": [GPU_QUEUE]}


@pytest.mark.parametrize("document", ["configmap.yaml"])
def test_the_shared_settings_are_a_valid_celery_deployment(document, tmp_path):
    (configmap,) = _documents(document)
    _deserialize(configmap, "V1ConfigMap")
    settings = Settings.from_env({**configmap["data"], **SECRETS})
    assert settings.executor == "celery" and settings.shared_home
    assert shared_state_problems(settings) == []
    # the instance the pods mount: the same storage as the one validated above
    assert configmap["data"]["DAGSTER_HOME"] == yaml.safe_load((K8S / "dagster.yaml").read_text())["run_launcher"]["config"]["dagster_home"]
