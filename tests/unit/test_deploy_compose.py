"""docker-compose.yml and deploy/Dockerfile, checked offline against the code."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from shared.http.auth import TokenBook
from shared.tokens import refused_secret
from tests.fixtures.deploy import (
    REPO,
    SERVICES,
    WORKERS,
    MissingVariable,
    generated_env,
    interpolate,
    metrics_port,
    require_module,
    served_paths,
    service_port,
    settings_field,
    settings_from_env,
)

IMAGE = "prophoto-ingest:local"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def dotenv(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The .env `make up` writes on first use."""
    return generated_env(tmp_path_factory.mktemp("compose"))


def ours(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if s.get("image") == IMAGE}


def test_every_pipeline_service_and_the_migration_run_from_the_one_image(
    compose: dict[str, Any],
) -> None:
    assert set(ours(compose)) == {*SERVICES, "migrate"}
    for service in ours(compose).values():
        assert service["build"] == {"context": ".", "dockerfile": "deploy/Dockerfile"}


@pytest.mark.parametrize("name", [*SERVICES, "migrate"])
def test_each_command_is_a_module_that_exists(compose: dict[str, Any], name: str) -> None:
    command = compose["services"][name]["command"]
    assert command[:2] == ["python", "-m"] and len(command) == 3
    require_module(command[2])


def test_every_prophoto_variable_is_a_settings_field_and_the_settings_load(
    compose: dict[str, Any], dotenv: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, service in ours(compose).items():
        env = service.get("environment", {})
        unknown = [k for k in env if k.startswith("PROPHOTO_") and settings_field(k) is None]
        assert not unknown, f"{name}: not settings fields: {unknown}"
        settings = settings_from_env(env, monkeypatch, dotenv)
        assert settings.env == "production"
        assert settings.temp_store.startswith("s3://") and settings.s3_endpoint
        TokenBook.from_settings(settings)  # make up's random secrets pass production's rules


def test_make_up_writes_a_private_env_once_with_a_random_value_for_every_credential(
    tmp_path: Path, compose: dict[str, Any],
) -> None:
    first = generated_env(tmp_path)
    again = generated_env(tmp_path)  # an existing .env is kept
    assert first == again and (tmp_path / ".env").stat().st_mode & 0o077 == 0
    (tmp_path / "elsewhere").mkdir()
    other = generated_env(tmp_path / "elsewhere")
    text = (REPO / "docker-compose.yml").read_text()
    needed = set(re.findall(r"\$\{(\w+):\?", text))
    assert needed <= set(first), f"compose needs {needed - set(first)} that make up does not write"
    for name in needed - {"RABBITMQ_USER", "POSTGRES_USER", "MINIO_ROOT_USER", "MINIO_APP_USER"}:
        secret = first[name].split("=")[0]
        assert refused_secret(secret) is None, name
        assert first[name] != other[name], f"{name} is not random"
    assert ".env" in (REPO / ".gitignore").read_text().split()


def test_compose_refuses_to_start_without_the_env_file(compose: dict[str, Any]) -> None:
    env = compose["services"]["upload"]["environment"]
    with pytest.raises(MissingVariable, match="make up"):
        interpolate(env["PROPHOTO_API_TOKENS"], {})


def test_no_working_password_is_in_the_repository_and_consoles_listen_on_loopback(
    compose: dict[str, Any],
) -> None:
    text = (REPO / "docker-compose.yml").read_text()
    for literal in ("prophoto-secret", "prophoto:prophoto@", "PASSWORD: admin", "PASS: prophoto"):
        assert literal not in text
    published = {name: service.get("ports", []) for name, service in compose["services"].items()}
    public = {name for name, ports in published.items()
              if any(not str(p).startswith("127.0.0.1:") for p in ports)}
    assert public == {"upload"}, "only the upload API is published beyond this host"
    grafana = compose["services"]["grafana"]["environment"]
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    prometheus = " ".join(compose["services"]["prometheus"]["command"])
    assert "enable-lifecycle" not in prometheus and "enable-admin-api" not in prometheus


def test_the_dockerfile_sets_only_real_settings() -> None:
    text = (REPO / "deploy" / "Dockerfile").read_text()
    names = set(re.findall(r"\b(PROPHOTO_[A-Z0-9_]+)=", text))
    assert names, "the image should set PROPHOTO_UPLOAD_HOST for containers"
    assert all(settings_field(n) for n in names), names


def _probe_url(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], test
    ast.parse(test[3])  # the probe itself is valid Python
    (url,) = re.findall(r"'(http://[^']+)'", test[3])
    return url


@pytest.mark.parametrize("name", SERVICES)
def test_each_health_check_hits_a_path_the_service_serves_on_its_port(
    compose: dict[str, Any], name: str, dotenv: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = compose["services"][name]
    url = urlparse(_probe_url(service))
    settings = settings_from_env(service["environment"], monkeypatch, dotenv)
    assert url.hostname == "127.0.0.1"
    assert url.port == service_port(name, settings)
    assert service["environment"]["HEALTHCHECK_URL"] == url.geturl()
    assert url.path in served_paths(name, settings)


def test_workers_have_no_container_name_and_no_host_ports_so_they_scale(
    compose: dict[str, Any],
) -> None:
    for name, service in compose["services"].items():
        assert "container_name" not in service, name
    for name in WORKERS:
        assert "ports" not in compose["services"][name], name
    assert compose["services"]["preview"]["deploy"]["replicas"] == 2


def test_start_order_points_at_services_that_exist_with_the_right_conditions(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: use the long depends_on form with conditions"
        for target, rule in depends.items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = rule["condition"]
            if condition == "service_healthy":
                check = services[target].get("healthcheck", {})
                assert check.get("test") and not check.get("disable"), f"{target}: no probe"
            elif condition == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} is not a one-shot"
            else:
                raise AssertionError(f"{name} -> {target}: unexpected condition {condition}")
    for name in SERVICES:
        assert set(services[name]["depends_on"]) == {"migrate", "rabbitmq", "buckets"}
        assert services[name]["healthcheck"]["test"], name


def test_infrastructure_is_the_versions_and_plugins_the_pipeline_expects(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert re.match(r"rabbitmq:4[.\d]*-management", services["rabbitmq"]["image"])
    plugins = compose["configs"]["rabbitmq-plugins"]["content"]
    assert "rabbitmq_prometheus" in plugins and "rabbitmq_management" in plugins
    assert services["rabbitmq"]["configs"][0]["target"] == "/etc/rabbitmq/enabled_plugins"
    assert services["rabbitmq"]["ports"] == ["127.0.0.1:15672:15672"]  # metrics: compose network
    assert services["postgres"]["image"].startswith("postgres:16")
    buckets = " ".join(services["buckets"]["command"])
    for store in ("prophoto-temp", "prophoto-final"):
        assert f"local/{store}" in buckets
        assert f"s3://{store}" in services["upload"]["environment"].values()
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    grafana = services["grafana"]["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana


def test_the_prometheus_config_parses_when_present() -> None:
    config = REPO / "deploy" / "prometheus" / "prometheus.yml"
    if not config.exists():
        pytest.skip("deploy/prometheus/prometheus.yml is not written yet (monitoring issue)")
    data = yaml.safe_load(config.read_text())
    assert data.get("scrape_configs")


def _scraped(job: dict[str, Any]) -> set[tuple[str, int]]:
    """(host, port) pairs a scrape job reaches: DNS names with their port, static targets."""
    out = {(name, sd["port"]) for sd in job.get("dns_sd_configs", []) for name in sd["names"]}
    for static in job.get("static_configs", []):
        for target in static["targets"]:
            host, _, port = target.rpartition(":")
            out.add((host, int(port)))
    return out


@pytest.mark.parametrize("name", SERVICES)
def test_prometheus_scrapes_each_service_on_its_metrics_listener_never_the_api_port(
    compose: dict[str, Any], name: str, dotenv: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = {j["job_name"]: j for j in
            yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())[
                "scrape_configs"]}
    service = compose["services"][name]
    settings = settings_from_env(service["environment"], monkeypatch, dotenv)
    assert _scraped(jobs[name]) == {(name, metrics_port(name, settings))}
    assert jobs[name].get("metrics_path", "/metrics") == "/metrics"
    assert settings.metrics_host == "0.0.0.0"  # reachable on the compose network
    published = {str(p).rsplit(":", 1)[-1] for p in service.get("ports", [])}
    assert str(metrics_port(name, settings)) not in published, "metrics stay off the host"
    if name in ("upload", "tracing"):
        assert metrics_port(name, settings) != service_port(name, settings)
        assert "/metrics" not in served_paths(name, settings)  # not a route of the API


def test_the_dockerfile_builds_a_non_root_image_with_vips_exiftool_and_a_health_check() -> None:
    text = (REPO / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim-bookworm\b", text, re.M)
    assert "libvips42" in text and "libimage-exiftool-perl" in text
    (user,) = re.findall(r"^USER (\S+)", text, re.M)
    assert user not in ("root", "0")
    health = re.search(r"^HEALTHCHECK [^\n]*\\\n\s*CMD (\[.*\])$", text, re.M)
    assert health, "HEALTHCHECK must be followed by an exec-form CMD"
    command = json.loads(health.group(1))
    assert command[:2] == ["python", "-c"]
    ast.parse(command[2])
    assert "HEALTHCHECK_URL" in command[2]
    ignore = (REPO / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*") + 1:][:3] == ["!pyproject.toml", "!shared/", "!services/"]


def test_make_up_adds_to_an_older_env_what_it_lacks_and_keeps_the_rest(tmp_path: Path) -> None:
    first = generated_env(tmp_path)
    env = tmp_path / ".env"
    older = [line for line in env.read_text().splitlines() if not line.startswith("MINIO_APP_")]
    env.write_text("\n".join(older))  # an .env from before the scoped MinIO user, no final newline
    again = generated_env(tmp_path)
    assert {k: v for k, v in again.items() if not k.startswith("MINIO_APP_")} == {
        k: v for k, v in first.items() if not k.startswith("MINIO_APP_")}
    assert again["MINIO_APP_USER"] == "prophoto-app"
    assert refused_secret(again["MINIO_APP_PASSWORD"]) is None
    assert again["MINIO_APP_PASSWORD"] not in (first["MINIO_APP_PASSWORD"], again["MINIO_ROOT_PASSWORD"])


def test_the_services_use_the_scoped_minio_user_never_the_root_credential(
    compose: dict[str, Any], dotenv: dict[str, str],
) -> None:
    for name, service in ours(compose).items():
        env = {k: interpolate(str(v), dotenv) for k, v in service["environment"].items()}
        assert env["PROPHOTO_S3_ACCESS_KEY"] == dotenv["MINIO_APP_USER"], name
        assert env["PROPHOTO_S3_SECRET_KEY"] == dotenv["MINIO_APP_PASSWORD"], name
        assert "MINIO_ROOT" not in json.dumps(service["environment"]), name
    assert dotenv["MINIO_APP_USER"] != dotenv["MINIO_ROOT_USER"]


#: what shared/storage/s3.py calls, as S3 actions: bucket_exists and list_objects
#: (ListBucket), get/stat/presigned get and a copy's source (GetObject), put, fput,
#: multipart parts and a copy's target (PutObject), remove (DeleteObject), an aborted
#: multipart upload (AbortMultipartUpload)
NEEDED_ON_BUCKETS = {"s3:ListBucket"}
NEEDED_ON_OBJECTS = {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}


def test_the_scoped_policy_reaches_the_stores_buckets_and_nothing_else(
    compose: dict[str, Any],
) -> None:
    policy = json.loads((REPO / "deploy" / "minio" / "prophoto-buckets.json").read_text())
    env = compose["services"]["upload"]["environment"]
    buckets = {urlparse(env[k]).netloc for k in ("PROPHOTO_TEMP_STORE", "PROPHOTO_FINAL_STORE")}
    on_buckets: set[str] = set()
    on_objects: set[str] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions, resources = set(statement["Action"]), set(statement["Resource"])
        assert all(a.startswith("s3:") and "*" not in a for a in actions), actions  # no admin:*
        if resources == {f"arn:aws:s3:::{b}" for b in buckets}:
            on_buckets |= actions
        elif resources == {f"arn:aws:s3:::{b}/*" for b in buckets}:
            on_objects |= actions
        else:
            raise AssertionError(f"a resource beyond the two stores: {resources}")
    assert NEEDED_ON_BUCKETS <= on_buckets and NEEDED_ON_OBJECTS <= on_objects
    assert not {"s3:CreateBucket", "s3:DeleteBucket", "s3:PutBucketPolicy"} & (on_buckets | on_objects)


def _run_buckets_job(compose: dict[str, Any], dotenv: dict[str, str], tmp_path: Path,
                     attached_already: bool, info_names_policy: bool) -> tuple[int, list[str]]:
    """The buckets job's shell command, run with a stand-in `mc` that logs its arguments."""
    job = compose["services"]["buckets"]
    log = tmp_path / "mc.log"
    fake = tmp_path / "bin" / "mc"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(f"""#!/bin/sh
echo "$*" >> {log}
case "$*" in
  "admin policy attach"*) {"exit 1" if attached_already else "exit 0"} ;;
  "admin user info"*) echo "AccessKey: $4"; echo "PolicyName: {"prophoto-buckets" if info_names_policy else ""}" ;;
esac
""")
    fake.chmod(0o755)
    env = {k: interpolate(str(v), dotenv) for k, v in job["environment"].items()}
    command = interpolate(job["command"][0], dotenv)
    result = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=30,
                            env={"PATH": f"{fake.parent}:/usr/bin:/bin", **env})
    lines = log.read_text().splitlines()
    log.unlink()
    return result.returncode, lines


def test_the_buckets_job_makes_the_buckets_then_the_scoped_user_and_reruns_cleanly(
    compose: dict[str, Any], dotenv: dict[str, str], tmp_path: Path,
) -> None:
    job = compose["services"]["buckets"]
    assert job["entrypoint"] == ["/bin/sh", "-c"] and job["restart"] == "no"
    (mount,) = job["volumes"]
    host, target = mount.removesuffix(":ro").split(":")
    assert (REPO / host / "prophoto-buckets.json").exists() and mount.endswith(":ro")
    root, app = dotenv["MINIO_ROOT_USER"], dotenv["MINIO_APP_USER"]
    code, calls = _run_buckets_job(compose, dotenv, tmp_path, False, False)
    assert code == 0
    assert calls == [
        f"alias set local http://minio:9000 {root} {dotenv['MINIO_ROOT_PASSWORD']}",
        "mb --ignore-existing local/prophoto-temp local/prophoto-final",
        f"admin policy create local prophoto-buckets {target}/prophoto-buckets.json",
        f"admin user add local {app} {dotenv['MINIO_APP_PASSWORD']}",
        f"admin policy attach local prophoto-buckets --user {app}",
    ]
    # run again (`make up` after `make down`): the attach is already in effect
    code, calls = _run_buckets_job(compose, dotenv, tmp_path, True, True)
    assert code == 0 and calls[-1] == f"admin user info local {app}"
    code, _ = _run_buckets_job(compose, dotenv, tmp_path, True, False)
    assert code != 0, "a failed attach must fail the job (the services would get AccessDenied)"


def test_every_image_is_pinned_to_a_release_and_the_test_containers_match(
    compose: dict[str, Any],
) -> None:
    from tests.fixtures import services as containers

    release = re.compile(r"^(v?\d+\.\d+(\.\d+)?(-[a-z]+)?|RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ)$")
    images = {name: s["image"] for name, s in compose["services"].items()}
    for name, image in images.items():
        if image == IMAGE:
            continue  # built from this repository
        repo, _, tag = image.rpartition(":")
        assert repo and release.match(tag), f"{name}: {image} is not pinned to a release"
    # Docker Hub no longer serves minio/*: MinIO's own registry
    assert images["minio"].startswith("quay.io/minio/minio:")
    assert images["buckets"].startswith("quay.io/minio/mc:")
    assert {containers.RABBITMQ_IMAGE, containers.POSTGRES_IMAGE, containers.MINIO_IMAGE} <= set(
        images.values()), "the testcontainers path runs the images compose ships"
