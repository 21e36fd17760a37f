"""The Dockerfile and the Kubernetes manifests in deploy/k8s/ parse and agree with the server they run:
ports, probe paths that the app really serves, the environment variables tuneforge really reads, the
Secret keys and the volume claim that are referenced, and a grace period that covers the drain."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    out = []
    for f in sorted(K8S.glob("*.yaml")):
        for d in yaml.safe_load_all(f.read_text(encoding="utf-8")):
            if d is not None:
                assert {"apiVersion", "kind", "metadata"} <= d.keys(), f
                out.append(d)
    return out


def one(docs, kind: str, name: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def app_paths(tmp_path) -> set[str]:
    from tuneforge.server import ServeOptions, create_app
    app = create_app(ServeOptions(registry=str(tmp_path / "registry"), poll_s=0))
    return {r.path for r in app.routes if hasattr(r, "path")}  # mounted sub-apps (the dashboard) have none


def server_container(docs) -> dict:
    (c,) = one(docs, "Deployment", "tuneforge")["spec"]["template"]["spec"]["containers"]
    return c


def test_every_kind_is_there(docs):
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PersistentVolumeClaim", "StatefulSet",
            "Secret"} <= kinds


def test_ports_and_probes_match_the_app(docs, tmp_path):
    c = server_container(docs)
    args = c["command"] + c["args"]
    port = int(args[args.index("--port") + 1])
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": port}
    paths = app_paths(tmp_path)
    # /healthz answers before a model is loaded: a pod has started, and may get traffic, only once /readyz
    # says a model is loaded and serving (503 while loading and with an empty registry)
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz" and "/readyz" in paths
    assert c["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("livenessProbe", "startupProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["path"] in paths and c[probe]["httpGet"]["port"] in ("http", port)
    svc = one(docs, "Service", "tuneforge")
    pod_labels = one(docs, "Deployment", "tuneforge")["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert [p["targetPort"] for p in svc["spec"]["ports"]] in (["http"], [port])
    annotations = one(docs, "Deployment", "tuneforge")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] in paths and int(annotations["prometheus.io/port"]) == port
    # The image agrees: same port exposed, its healthcheck hits a real path, the same serve command.
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(rf"^EXPOSE {port}$", dockerfile, re.M)
    health = re.search(r"http://127\.0\.0\.1:(\d+)(/\w+)", dockerfile)
    assert health and int(health.group(1)) == port and health.group(2) in paths
    assert re.search(r"^USER (?!root|0\b)\S+", dockerfile, re.M), "the image must not run as root"
    assert dockerfile.index("torch==2.13.0") < dockerfile.index("requirements.txt"), "torch is pinned first"


def test_environment_secrets_and_volumes_are_consistent(docs):
    c = server_container(docs)
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tuneforge").rglob("*.py"))
    secret = one(docs, "Secret", "tuneforge-secrets")["stringData"]
    for env in c["env"]:
        if env["name"].startswith("TUNEFORGE_"):
            assert f'"{env["name"]}"' in source, f"{env['name']} is not read by tuneforge"
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["name"] == "tuneforge-secrets" and ref["key"] in secret
    assert secret["TUNEFORGE_REGISTRY_DB"].startswith("postgresql://")
    # the request log's hashing key and the API key (which also opens the dashboard) come from the Secret
    env = {e["name"]: e for e in c["env"]}
    for name in ("TUNEFORGE_API_KEY", "TUNEFORGE_LOG_SECRET"):
        assert env[name]["valueFrom"]["secretKeyRef"]["key"] == name
    db_host_port = re.search(r"@([^:/]+):(\d+)/", secret["TUNEFORGE_REGISTRY_DB"]).groups()
    pg_svc = one(docs, "Service", db_host_port[0])
    assert int(db_host_port[1]) in [p["port"] for p in pg_svc["spec"]["ports"]]
    pg = one(docs, "StatefulSet", "tuneforge-postgres")
    assert pg["spec"]["serviceName"] == db_host_port[0]
    assert pg_svc["spec"]["selector"].items() <= pg["spec"]["template"]["metadata"]["labels"].items()

    pod = one(docs, "Deployment", "tuneforge")["spec"]["template"]["spec"]
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {"tuneforge-registry"}
    pvc = one(docs, "PersistentVolumeClaim", "tuneforge-registry")
    assert "ReadWriteMany" in pvc["spec"]["accessModes"]  # several replicas share one registry
    registry_env = next(e["value"] for e in c["env"] if e["name"] == "TUNEFORGE_REGISTRY")
    assert registry_env in [m["mountPath"] for m in c["volumeMounts"]]
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_graceful_termination_outlasts_the_drain(docs):
    pod = one(docs, "Deployment", "tuneforge")["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    pre_stop = int(c["lifecycle"]["preStop"]["exec"]["command"][-1])
    # preStop (out of the Service first), then uvicorn drains requests in flight: both inside the grace period.
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + 15
    hpa = one(docs, "HorizontalPodAutoscaler", "tuneforge")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "tuneforge"}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert c["resources"]["requests"]["cpu"]  # an HPA on CPU utilisation needs a CPU request
