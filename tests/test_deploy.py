"""The deployment files (deploy/): what the rendered Helm chart and the image promise, and the tools' verdicts.

Rendering and schema checks go through `scripts/check-deploy`, whose tools (Helm's own engine, the Kubernetes
JSON schemas, hadolint) live in their own venv, deploy/.venv. Without it, the tests that need it fail where
POLICYARC_REQUIRE_DEPLOY_TOOLS=1 (scripts/test and CI, which build it first) and are skipped with the command to
run elsewhere. The static checks (the Dockerfile's text, values.yaml against values.schema.json, the health-check
script) need no tool and always run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "policyarc"
CHECK_DEPLOY = ROOT / "scripts" / "check-deploy"
TOOLS_STAMP = DEPLOY / ".venv" / ".installed"

REQUIRED = {"publicUrl": "https://mcp.example.com", "secrets": {"existingSecret": "pa-secrets"}}
EVERYTHING = {
    **REQUIRED,
    "atlassian": {"clientId": "abc123"},
    "redis": {"enabled": True},
    "ingress": {"enabled": True, "host": "mcp.example.com"},
}
SECRET_ENV = {"POLICYARC_DATABASE_URL", "POLICYARC_SECRET_KEYS", "POLICYARC_REDIS_URL", "ATLASSIAN_CLIENT_SECRET"}
DATA_DIR = "/var/lib/policyarc"
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 - what the container binds, as the image and the chart say


def _need_tools() -> None:
    if TOOLS_STAMP.exists():
        return
    reason = f"the deployment tools are not installed: run {CHECK_DEPLOY.relative_to(ROOT)} once"
    if os.environ.get("POLICYARC_REQUIRE_DEPLOY_TOOLS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def check_deploy(*args: str) -> subprocess.CompletedProcess[str]:
    _need_tools()
    command = [str(CHECK_DEPLOY), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)  # noqa: S603 - our script


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    result = check_deploy("render", json.dumps(values))
    assert result.returncode == 0, result.stderr
    documents: list[dict[str, Any]] = json.loads(result.stdout)
    return documents


def only(documents: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [doc for doc in documents if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod_spec.get("initContainers", []), *pod_spec["containers"]]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container.get("env", [])}


@pytest.fixture(scope="module")
def everything() -> list[dict[str, Any]]:
    return render(EVERYTHING)


# --- the rendered chart ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("replicas", [1, 5])
def test_replicas_come_from_values(replicas: int) -> None:
    deployment = only(render({**REQUIRED, "replicaCount": replicas}), "Deployment")
    assert deployment["spec"]["replicas"] == replicas


def test_the_default_is_several_replicas_with_a_disruption_budget() -> None:
    documents = render(REQUIRED)
    assert only(documents, "Deployment")["spec"]["replicas"] >= 2
    assert only(documents, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_every_pod_runs_non_root_with_a_read_only_root_filesystem(everything: list[dict[str, Any]]) -> None:
    pods = [only(everything, kind)["spec"]["template"]["spec"] for kind in ("Deployment", "Job")]
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] > 0
        assert pod["automountServiceAccountToken"] is False
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        for container in containers(pod):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, container["name"]
            assert context["allowPrivilegeEscalation"] is False, container["name"]
            assert context["capabilities"]["drop"] == ["ALL"], container["name"]
            # What stays writable: scratch space only, never the image.
            mounts = {mount["mountPath"]: volumes[mount["name"]] for mount in container["volumeMounts"]}
            assert set(mounts) == {"/tmp", DATA_DIR}
            assert all("emptyDir" in volume for volume in mounts.values())
    assert len(containers(pods[1])) == 2  # the migration and the IdP set-up, both checked above


def test_probes_ask_readyz_and_healthz_on_the_served_port() -> None:
    deployment = only(render(REQUIRED), "Deployment")
    (gateway,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = {port["name"]: port["containerPort"] for port in gateway["ports"]}
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert ports[gateway[probe]["httpGet"]["port"]] == 8000
    assert gateway["args"][:5] == ["serve", "--host", EVERY_INTERFACE, "--port", "8000"]


def test_secrets_are_referenced_never_inlined(everything: list[dict[str, Any]]) -> None:
    assert not [doc for doc in everything if doc["kind"] == "Secret"]
    seen = set()
    for kind in ("Deployment", "Job"):
        for container in containers(only(everything, kind)["spec"]["template"]["spec"]):
            for name, entry in env_of(container).items():
                if name in SECRET_ENV:
                    seen.add(name)
                    assert "value" not in entry, name
                    assert entry["valueFrom"]["secretKeyRef"]["name"] == "pa-secrets", name
    assert seen == SECRET_ENV
    # The Atlassian client secret reaches only the job's IdP step; the serving pods never hold it.
    (gateway,) = only(everything, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert "ATLASSIAN_CLIENT_SECRET" not in env_of(gateway)


def test_the_migration_job_runs_before_install_and_upgrade(everything: list[dict[str, Any]]) -> None:
    job = only(everything, "Job")
    hooks = set(job["metadata"]["annotations"]["helm.sh/hook"].split(","))
    assert hooks == {"pre-install", "pre-upgrade"}
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (migrate,) = pod["initContainers"]
    assert migrate["args"] == ["db", "upgrade"]
    (idp,) = pod["containers"]
    assert idp["args"][:3] == ["idp", "set", "atlassian"]
    assert idp["args"][idp["args"].index("--client-id") + 1] == "abc123"
    # Without an Atlassian app the job only migrates.
    (alone,) = only(render(REQUIRED), "Job")["spec"]["template"]["spec"]["containers"]
    assert alone["args"] == ["db", "upgrade"]
    assert "POLICYARC_DATABASE_URL" in env_of(alone)


def test_service_and_budget_select_the_gateway_pods_only(everything: list[dict[str, Any]]) -> None:
    deployment = only(everything, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert only(everything, "Service")["spec"]["selector"] == selector
    assert only(everything, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selector
    job_labels = only(everything, "Job")["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= job_labels.items()


def test_the_ingress_is_optional_and_routes_to_the_service(everything: list[dict[str, Any]]) -> None:
    assert not [doc for doc in render(REQUIRED) if doc["kind"] == "Ingress"]
    (rule,) = only(everything, "Ingress")["spec"]["rules"]
    assert rule["host"] == "mcp.example.com"
    assert rule["http"]["paths"][0]["backend"]["service"]["name"] == only(everything, "Service")["metadata"]["name"]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"secrets": {"existingSecret": "pa"}}, "/publicUrl"),
        ({**REQUIRED, "publicUrl": "http://mcp.example.com"}, "/publicUrl"),
        ({"publicUrl": "https://mcp.example.com"}, "/secrets/existingSecret"),
        ({**REQUIRED, "ingress": {"enabled": True}}, "/ingress/host"),
    ],
)
def test_the_values_schema_refuses_an_incomplete_install(values: dict[str, Any], named: str) -> None:
    result = check_deploy("render", json.dumps(values))
    assert result.returncode == 1
    assert named in result.stderr


# --- the tools' verdicts -------------------------------------------------------------------------------------------


def test_check_deploy_passes_every_check() -> None:
    result = check_deploy()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    assert "ok   hadolint Dockerfile: no findings" in result.stdout
    assert "ok   helm lint --strict" in result.stdout
    for version in ("1.25.0", "1.37.0"):
        assert f"valid against the Kubernetes {version} schemas (strict)" in result.stdout


def test_the_kubernetes_schema_check_catches_a_misspelt_field(tmp_path: Path) -> None:
    deployment = only(render(REQUIRED), "Deployment")
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    manifest = tmp_path / "deployment.yaml"
    manifest.write_text(yaml.safe_dump(deployment))
    result = check_deploy("kube", str(manifest))
    assert result.returncode == 1
    assert "'replica' was unexpected" in result.stdout


def test_hadolint_catches_an_image_left_running_as_root(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text((DEPLOY / "Dockerfile").read_text() + "USER root\n")
    result = check_deploy("hadolint", str(dockerfile))
    assert result.returncode == 1
    assert "DL3002" in result.stdout


# --- static checks (no tools needed) -------------------------------------------------------------------------------


def _final_stage() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    instructions = [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    froms = [i for i, (op, _) in enumerate(instructions) if op == "FROM"]
    assert len(froms) >= 2, "the image is built in one stage and run from another"
    return instructions[froms[-1] :]


def test_the_image_runs_policyarc_serve_as_a_fixed_non_root_user() -> None:
    stage = _final_stage()
    users = [arg for op, arg in stage if op == "USER"]
    assert users == ["10001:10001"]
    assert json.loads(next(arg for op, arg in stage if op == "ENTRYPOINT")) == ["policyarc"]
    assert json.loads(next(arg for op, arg in stage if op == "CMD")) == ["serve", "--host", EVERY_INTERFACE]
    healthcheck = next(arg for op, arg in stage if op == "HEALTHCHECK")
    assert "/opt/policyarc/healthcheck.py" in healthcheck


def test_the_image_writes_only_to_its_volumes() -> None:
    stage = _final_stage()
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(arg for op, arg in stage if op == "ENV")))
    volumes = json.loads(next(arg for op, arg in stage if op == "VOLUME"))
    assert set(volumes) == {env["POLICYARC_DATA_DIR"], "/tmp"}
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["POLICYARC_HOST"] == EVERY_INTERFACE
    # The chart mounts the same data directory and probes the same port.
    assert env["POLICYARC_DATA_DIR"] == DATA_DIR
    assert env["POLICYARC_PORT"] == "8000"


def test_values_yaml_needs_only_the_url_and_the_secret_name() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    errors = sorted(error.json_path for error in jsonschema.Draft7Validator(schema).iter_errors(values))
    assert errors == ["$.publicUrl", "$.secrets.existingSecret"]
    merged = {**values, **REQUIRED, "secrets": {**values["secrets"], **REQUIRED["secrets"]}}
    assert not list(jsonschema.Draft7Validator(schema).iter_errors(merged))


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def health_server(request: pytest.FixtureRequest) -> Iterator[int]:
    handler = type("Handler", (_Health,), {"status": request.param})
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.server_address[1]
        finally:
            server.shutdown()
            thread.join()


def run_healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter and our script
        [sys.executable, str(DEPLOY / "healthcheck.py")],
        env={**os.environ, "POLICYARC_PORT": str(port)},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(("health_server", "code"), [(200, 0), (503, 1)], indirect=["health_server"])
def test_the_image_health_check_follows_healthz(health_server: int, code: int) -> None:
    assert run_healthcheck(health_server).returncode == code


def test_the_image_health_check_fails_when_nothing_listens() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), _Health) as server:
        port = server.server_address[1]
    result = run_healthcheck(port)
    assert result.returncode == 1
    assert f"127.0.0.1:{port}/healthz" in result.stderr
