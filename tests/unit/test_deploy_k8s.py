"""deploy/k8s: Kubernetes schema validation (kubernetes-validate) plus ties to the code.

kubectl's client-side dry run needs an API server for discovery, which these
machines do not have; `kubectl kustomize` (offline) checks the kustomization.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from shared.broker.topology import Topology
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
    with pytest.raises(ValueError, match=r"PROPHOTO_AMQP_URL.*refused in production"):
        settings.refuse_placeholder_secrets()  # nor its broker, database and S3 passwords
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
    password = secrets.token_urlsafe(24)
    filled = {"PROPHOTO_API_TOKENS": f"{secrets.token_urlsafe(32)}=photographer",  # as an operator
              "PROPHOTO_ADMIN_TOKENS": secrets.token_urlsafe(32),             # fills the Secret
              "PROPHOTO_AMQP_URL": f"amqp://prophoto:{password}@rabbitmq:5672/",
              "PROPHOTO_DATABASE_URL": f"postgresql://prophoto:{password}@postgres:5432/prophoto",
              "PROPHOTO_S3_SECRET_KEY": password}
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


def test_keda_scales_the_preview_deployment_on_the_sum_of_every_preview_lane(
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
    # several queues: a regex, which KEDA evaluates only over the management API, summed
    assert meta["protocol"] == "http" and meta["useRegex"] == "true" and meta["operation"] == "sum"
    settings = settings_from_env(settings_env(), monkeypatch)
    topology = Topology(settings)
    pattern = re.compile(meta["queueName"])
    lane_queues = [q for _, queues in topology.lanes() for q in queues]
    assert len(lane_queues) == 3 + settings.preview_interactive_shards + settings.preview_bulk_shards
    assert all(pattern.search(q) for q in lane_queues), lane_queues
    others = [q for q in topology.all_queues() if q not in lane_queues]
    assert others and not any(pattern.search(q) for q in others), "waits and parked ones are not work"
    assert "host" not in meta, "the connection string belongs in the Secret"

    auth = by_kind("TriggerAuthentication")[trigger["authenticationRef"]["name"]]
    assert auth["apiVersion"] == "keda.sh/v1alpha1"
    (ref,) = auth["spec"]["secretTargetRef"]
    assert ref["parameter"] == "host"
    secret = by_kind("Secret")[ref["name"]]
    assert ref["key"] in secret["stringData"]
    assert secret["stringData"][ref["key"]].startswith("http://")
    assert secret["stringData"][ref["key"]].endswith(":15672/")


def test_every_container_runs_the_projects_image_at_the_kustomizations_pinned_tag() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    pinned = {i["name"]: i["newTag"] for i in kustomization["images"]}
    for kind in ("Deployment", "Job"):
        for name, doc in by_kind(kind).items():
            for container in doc["spec"]["template"]["spec"]["containers"]:
                assert container["image"] in pinned, f"{kind}/{name}: {container['image']}"
    for tag in pinned.values():
        assert tag != "latest" and tag[0].isdigit(), tag


# --- NetworkPolicy, evaluated offline ------------------------------------------------------
# A small model of the NetworkPolicy rules the manifests use (matchLabels selectors, pod and
# namespace peers, numeric ports): a pod is isolated for a direction when any policy selects
# it for that direction, and then a connection is allowed when some rule of some selecting
# policy admits both the peer and the port.

@dataclass(frozen=True)
class Pod:
    labels: dict[str, str]
    namespace: str | None = "ours"  # None: outside the cluster
    namespace_labels: dict[str, str] = field(default_factory=dict)


OURS = "ours"
EXTERNAL = Pod({}, None)
NEIGHBOUR = Pod({"app": "something-else"})
PROMETHEUS = Pod({"app.kubernetes.io/name": "prometheus"}, "monitoring",
                 {"kubernetes.io/metadata.name": "monitoring"})
KEDA = Pod({"app": "keda-operator"}, "keda", {"kubernetes.io/metadata.name": "keda"})
BROKER = Pod({"app": "rabbitmq"})


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"the model knows matchLabels only: {selector}"
    return selector.get("matchLabels", {}).items() <= labels.items()


def _peer_admits(peer: dict[str, Any], source: Pod) -> bool:
    assert set(peer) <= {"podSelector", "namespaceSelector"}, peer
    if source.namespace is None:
        return False
    if "namespaceSelector" in peer:
        in_namespace = _matches(peer["namespaceSelector"], source.namespace_labels)
    else:
        in_namespace = source.namespace == OURS
    return in_namespace and _matches(peer.get("podSelector", {}), source.labels)


def _port_admits(rule: dict[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    return not ports or any(p["port"] == port and p.get("protocol", "TCP") == protocol
                            for p in ports)


def _policies(direction: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    return [p for p in by_kind("NetworkPolicy").values()
            if direction in p["spec"]["policyTypes"] and _matches(p["spec"]["podSelector"], labels)]


def ingress_allowed(source: Pod, target: dict[str, str], port: int) -> bool:
    """`source` may open `port` on a pod of our namespace labelled `target`."""
    selecting = _policies("Ingress", target)
    if not selecting:
        return True
    return any(_port_admits(rule, port, "TCP")
               and (not rule.get("from") or any(_peer_admits(p, source) for p in rule["from"]))
               for policy in selecting for rule in policy["spec"].get("ingress", []))


def egress_allowed(source: dict[str, str], port: int, protocol: str = "TCP") -> bool:
    selecting = _policies("Egress", source)
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("egress", []):
            assert not rule.get("to"), "the model reads egress by port only"
            if _port_admits(rule, port, protocol):
                return True
    return False


def pod_labels(name: str) -> dict[str, str]:
    labels: dict[str, str] = by_kind("Deployment")[name]["spec"]["template"]["metadata"]["labels"]
    return labels


def api_port(name: str) -> int:
    (container,) = by_kind("Deployment")[name]["spec"]["template"]["spec"]["containers"]
    return next(int(p["containerPort"]) for p in container["ports"] if p["name"] == "http")


def scrape_port(name: str) -> int:
    template = by_kind("Deployment")[name]["spec"]["template"]
    return int(template["metadata"]["annotations"]["prometheus.io/port"])


def test_every_pod_of_the_namespace_denies_ingress_unless_a_policy_allows_it() -> None:
    deny = [p for p in by_kind("NetworkPolicy").values()
            if p["spec"]["podSelector"] == {} and p["spec"]["policyTypes"] == ["Ingress"]
            and not p["spec"].get("ingress")]
    assert deny, "no default-deny ingress policy"
    for source in (EXTERNAL, NEIGHBOUR, PROMETHEUS):
        assert not ingress_allowed(source, {"app": "anything"}, 8080)


def test_the_upload_api_is_open_to_anyone_and_nothing_else_of_it() -> None:
    upload = pod_labels("upload")
    for source in (EXTERNAL, NEIGHBOUR, PROMETHEUS):
        assert ingress_allowed(source, upload, api_port("upload"))
    assert not ingress_allowed(EXTERNAL, upload, scrape_port("upload"))
    assert not ingress_allowed(NEIGHBOUR, upload, scrape_port("upload"))


def test_the_tracing_service_answers_only_pods_of_its_namespace() -> None:
    tracing = pod_labels("tracing")
    assert ingress_allowed(NEIGHBOUR, tracing, api_port("tracing"))
    assert ingress_allowed(Pod(pod_labels("upload")), tracing, api_port("tracing"))
    assert not ingress_allowed(EXTERNAL, tracing, api_port("tracing"))
    assert not ingress_allowed(PROMETHEUS, tracing, api_port("tracing"))  # another namespace


@pytest.mark.parametrize("name", SERVICES)
def test_metrics_listeners_answer_prometheus_only(name: str) -> None:
    labels, port = pod_labels(name), scrape_port(name)
    assert ingress_allowed(PROMETHEUS, labels, port)
    for source in (EXTERNAL, NEIGHBOUR, KEDA, Pod(pod_labels("upload"))):
        assert not ingress_allowed(source, labels, port), (name, source)


def test_a_broker_database_or_store_in_the_namespace_answers_the_services_and_keda_only() -> None:
    preview = Pod(pod_labels("preview"))
    for port in (5672, 5432, 9000):
        assert ingress_allowed(preview, BROKER.labels, port)
        assert not ingress_allowed(EXTERNAL, BROKER.labels, port)
        assert not ingress_allowed(NEIGHBOUR, BROKER.labels, port)
    assert ingress_allowed(KEDA, BROKER.labels, 15672)  # the management API: it sums the lanes
    assert not ingress_allowed(KEDA, BROKER.labels, 5672)
    assert not ingress_allowed(KEDA, BROKER.labels, 5432)


def test_the_services_may_reach_dns_and_the_ports_their_settings_name_and_no_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_from_env(settings_env(), monkeypatch)
    needed = {urlsplit(settings.amqp_url).port or 5672, urlsplit(settings.database_url).port or 5432,
              urlsplit(settings.s3_endpoint or "").port or 443}
    for name in (*SERVICES, "migrate"):
        labels = (pod_labels(name) if name in SERVICES else
                  by_kind("Job")["prophoto-migrate"]["spec"]["template"]["metadata"]["labels"])
        assert egress_allowed(labels, 53, "UDP") and egress_allowed(labels, 53, "TCP")
        for port in needed:
            assert egress_allowed(labels, port), (name, port)
        for port in (22, 25, 6379, 8080):
            assert not egress_allowed(labels, port), (name, port)


def test_the_policies_name_the_ports_the_manifests_use() -> None:
    scraped = {scrape_port(n) for n in SERVICES}
    (metrics,) = [p for p in by_kind("NetworkPolicy").values()
                  if any("from" in r and any("namespaceSelector" in f and "podSelector" in f
                                             for f in r["from"]) for r in p["spec"].get("ingress", []))]
    assert {p["port"] for r in metrics["spec"]["ingress"] for p in r["ports"]} == scraped
