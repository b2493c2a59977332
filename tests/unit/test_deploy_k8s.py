"""deploy/k8s: Kubernetes schema validation (kubernetes-validate) plus ties to the code.

kubectl's client-side dry run needs an API server for discovery, which these
machines do not have; `kubectl kustomize` (offline) checks the kustomization.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.deploy import (
    REPO,
    SERVICES,
    metrics_port,
    require_module,
    served_paths,
    service_port,
    settings_field,
    settings_from_env,
)

K8S = REPO / "deploy" / "k8s"
KUBERNETES_VERSION = "1.32.0"


def _documents() -> list[tuple[Path, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs.extend((path, d) for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


DOCS = _documents()


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in DOCS if d["kind"] == kind}


def settings_env() -> dict[str, str]:
    (config,) = by_kind("ConfigMap").values()
    (secret,) = by_kind("Secret").values()
    return {**config["data"], **secret["stringData"]}


@pytest.mark.parametrize(
    ("path", "doc"), [(p, d) for p, d in DOCS if not d["apiVersion"].startswith("keda.sh/")],
    ids=lambda v: v.name if isinstance(v, Path) else f"{v['kind']}/{v['metadata']['name']}",
)
def test_each_manifest_validates_strictly_against_the_kubernetes_schema(
    path: Path, doc: dict[str, Any]
) -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="pip install kubernetes-validate (in the test extra)"
    )
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    assert "namespace" not in doc["metadata"], f"{path.name}: manifests stay namespace-less"


def test_the_kustomization_lists_every_manifest_and_renders() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the kustomize render was not checked")
    rendered = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True,
                              timeout=60, check=True).stdout
    kinds = [d["kind"] for d in yaml.safe_load_all(rendered) if d]
    assert len(kinds) == len(DOCS)


def test_configmap_and_secret_hold_only_settings_fields_and_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = settings_env()
    unknown = [k for k in env if settings_field(k) is None]
    assert not unknown, f"not settings fields: {unknown}"
    settings = settings_from_env(env, monkeypatch)
    assert settings.env == "production"
    with pytest.raises(ValueError, match=r"PROPHOTO_API_TOKENS.*refused in production"):
        settings.tokens()  # the Secret's placeholders never start a production service
    assert settings.preview_retry.backoff_s == [10, 30, 60]


@pytest.mark.parametrize("name", SERVICES)
def test_each_deployment_runs_its_module_with_probes_resources_and_no_root(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = by_kind("Deployment")[name]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", f"services.{name}"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}
    sources = {next(iter(s.values()))["name"] for s in container["envFrom"]}
    assert sources == set(by_kind("ConfigMap")) | set(by_kind("Secret"))
    filled = {"PROPHOTO_API_TOKENS": f"{secrets.token_urlsafe(32)}=photographer",  # as an operator
              "PROPHOTO_ADMIN_TOKENS": secrets.token_urlsafe(32)}             # fills the Secret
    settings = settings_from_env(settings_env() | filled, monkeypatch)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    port = next(p for p in container["ports"] if p["name"] == "http")
    assert port["containerPort"] == service_port(name, settings)
    if name in ("upload", "tracing"):  # the API port, and the metrics listener beside it
        assert ports == {"http": service_port(name, settings),
                         "metrics": metrics_port(name, settings)}
        assert "/metrics" not in served_paths(name, settings)
    else:
        assert ports == {"http": metrics_port(name, settings)}
    require_module(f"services.{name}")
    paths = served_paths(name, settings)
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        http = container[probe]["httpGet"]
        assert http["port"] == port["name"]
        assert http["path"] in paths, f"{name} {probe}: {http['path']} is not served"


def test_upload_and_tracing_have_services_that_select_their_pods() -> None:
    services = by_kind("Service")
    assert set(services) == {"upload", "tracing"}
    for name, service in services.items():
        labels = by_kind("Deployment")[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        # the API port only: the metrics listener is not behind the Service
        assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]


@pytest.mark.parametrize("name", SERVICES)
def test_prometheus_scrapes_each_pod_on_its_metrics_listener_never_on_the_api_port(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = by_kind("Deployment")[name]["spec"]["template"]
    notes = template["metadata"]["annotations"]
    assert notes["prometheus.io/scrape"] == "true" and notes["prometheus.io/path"] == "/metrics"
    settings = settings_from_env(settings_env(), monkeypatch)
    assert int(notes["prometheus.io/port"]) == metrics_port(name, settings)
    (container,) = template["spec"]["containers"]
    assert int(notes["prometheus.io/port"]) in {p["containerPort"] for p in container["ports"]}
    if name in ("upload", "tracing"):
        assert int(notes["prometheus.io/port"]) != service_port(name, settings)


def test_the_migrate_job_runs_the_migration_module() -> None:
    (job,) = by_kind("Job").values()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "shared.migrate"]
    require_module("shared.migrate")


def test_keda_scales_the_preview_deployment_on_the_preview_queue_length(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # KEDA's CRDs are not in the Kubernetes schemas: check the structure KEDA reads
    (scaled,) = by_kind("ScaledObject").values()
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    target = spec["scaleTargetRef"]
    assert target.get("kind", "Deployment") == "Deployment"
    assert target["name"] in by_kind("Deployment") and target["name"] == "preview"
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "rabbitmq"
    meta = trigger["metadata"]
    assert meta["mode"] == "QueueLength" and int(meta["value"]) > 0
    assert meta["protocol"] in ("amqp", "http", "auto")
    settings = settings_from_env(settings_env(), monkeypatch)
    assert meta["queueName"] == settings.queue_preview == "ingest-preview"
    assert "host" not in meta, "the connection string belongs in the Secret"

    auth = by_kind("TriggerAuthentication")[trigger["authenticationRef"]["name"]]
    assert auth["apiVersion"] == "keda.sh/v1alpha1"
    (ref,) = auth["spec"]["secretTargetRef"]
    assert ref["parameter"] == "host"
    secret = by_kind("Secret")[ref["name"]]
    assert ref["key"] in secret["stringData"]
    assert secret["stringData"][ref["key"]].startswith("amqp://")


def test_every_container_runs_the_projects_image_at_the_kustomizations_pinned_tag() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    pinned = {i["name"]: i["newTag"] for i in kustomization["images"]}
    for kind in ("Deployment", "Job"):
        for name, doc in by_kind(kind).items():
            for container in doc["spec"]["template"]["spec"]["containers"]:
                assert container["image"] in pinned, f"{kind}/{name}: {container['image']}"
    for tag in pinned.values():
        assert tag != "latest" and tag[0].isdigit(), tag
