"""Checks of the deployment files that need no container engine and no cluster:

- docker-compose.yml validates against the Compose specification's JSON schema (vendored by
  check-jsonschema);
- `kubectl kustomize` renders each overlay of deploy/k8s, and every resource validates, strictly
  (no unknown field), against the Kubernetes schemas vendored by kubernetes-validate, for the
  oldest and the newest Kubernetes version we claim;
- what the manifests promise holds in every overlay: native gRPC probes on the health service, a
  startup probe, non-root and a read-only root filesystem, a grace period longer than the drain
  and the shutdown grace, no Secret values, a disruption budget and an autoscaler per service,
  a default deny, and network policies that allow exactly the calls the services are configured
  to make (their peers in the ConfigMaps, which must be the compose file's peers too);
- the Dockerfile's build command is the release build CI runs (given as arguments).

Usage: check.py CARGO_BUILD_COMMAND...   (from the repository root, in the venv of run.sh)
"""

import subprocess
import sys

import kubernetes_validate
import yaml

# Oldest and newest Kubernetes versions the manifests are checked against: the oldest must know
# every field used (matchLabelKeys in topology spread, gRPC probes), the newest must still have
# them.
KUBERNETES_VERSIONS = ["1.32.0", "1.37.0"]
OVERLAYS = ["dev", "prod"]
SERVICES = {
    "opportunities": 50051,
    "contracts-payments": 50052,
    "handoff": 50053,
    "account-management": 50054,
}

failures = []


def fail(message):
    failures.append(message)
    print(f"FAILED: {message}")


def ok(message):
    print(f"ok: {message}")


def compose_file():
    result = subprocess.run(
        ["check-jsonschema", "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        fail(f"docker-compose.yml does not validate against the Compose specification:\n{result.stdout}{result.stderr}")
    else:
        ok("docker-compose.yml validates against the Compose specification")
    with open("docker-compose.yml") as f:
        return yaml.safe_load(f)


def compose_peers(compose):
    """{service: {peer service}} from the compose file's CLOSELOOP_PEERS__* endpoints."""
    graph = {}
    for name in SERVICES:
        env = compose["services"][name]["environment"]
        graph[name] = {
            host_of(value)
            for key, value in env.items()
            if key.startswith("CLOSELOOP_PEERS__") and key != "CLOSELOOP_PEERS__SERVICE_TOKEN"
        }
    return graph


def host_of(url):
    return url.split("://", 1)[1].split(":", 1)[0]


def render(overlay):
    result = subprocess.run(
        ["kubectl", "kustomize", f"deploy/k8s/overlays/{overlay}"], capture_output=True, text=True
    )
    if result.returncode != 0:
        fail(f"kubectl kustomize deploy/k8s/overlays/{overlay}: {result.stderr}")
        return []
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def validate(overlay, resources):
    for version in KUBERNETES_VERSIONS:
        bad = 0
        for r in resources:
            what = f"{overlay}: {r.get('kind')}/{r.get('metadata', {}).get('name')}"
            try:
                kubernetes_validate.validate(r, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError as e:
                bad += 1
                fail(f"{what}: no Kubernetes {version} schema for it: {e}")
            except kubernetes_validate.ValidationError as e:
                bad += 1
                fail(f"{what}: invalid for Kubernetes {version}: {e.message} at {list(e.path)}")
        if not bad:
            ok(f"{overlay}: {len(resources)} resources validate strictly against Kubernetes {version}")


def by_kind(resources, kind):
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def promises(overlay, resources, compose_graph):
    if by_kind(resources, "Secret"):
        fail(f"{overlay}: renders a Secret: secrets are referenced, never committed")
    configs = by_kind(resources, "ConfigMap")
    common = configs.get("closeloop-common", {}).get("data", {})
    drain = int(common.get("CLOSELOOP_SERVER__DRAIN_DELAY_MS", 2000))
    grace = int(common.get("CLOSELOOP_SERVER__SHUTDOWN_GRACE_MS", 20000))
    deployments = by_kind(resources, "Deployment")
    services = by_kind(resources, "Service")
    budgets = by_kind(resources, "PodDisruptionBudget")
    scalers = by_kind(resources, "HorizontalPodAutoscaler")
    policies = by_kind(resources, "NetworkPolicy")

    deny = policies.get("default-deny", {}).get("spec", {})
    if deny.get("podSelector") != {} or sorted(deny.get("policyTypes", [])) != ["Egress", "Ingress"] or deny.get("ingress") or deny.get("egress"):
        fail(f"{overlay}: no default-deny policy for ingress and egress of every pod")

    configured = {}
    for name, port in SERVICES.items():
        d = deployments.get(name)
        if d is None:
            fail(f"{overlay}: no Deployment {name}")
            continue
        pod = d["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        if c.get("args") != ["serve", name]:
            fail(f"{overlay}: {name} does not run `closeloop serve {name}`: {c.get('args')}")
        grpc_service = None
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            p = c.get(probe, {}).get("grpc")
            if not p or p.get("port") != port:
                fail(f"{overlay}: {name} has no native gRPC {probe} on port {port}")
            elif probe == "readinessProbe":
                grpc_service = p.get("service")
            elif probe == "livenessProbe" and p.get("service") != "liveness":
                fail(f"{overlay}: {name}'s liveness does not ask the `liveness` entry, which does not follow the database")
        if not grpc_service:
            fail(f"{overlay}: {name}'s readiness does not ask about its gRPC service")
        if not (pod.get("securityContext", {}).get("runAsNonRoot") and c.get("securityContext", {}).get("readOnlyRootFilesystem")):
            fail(f"{overlay}: {name} is not non-root with a read-only root filesystem")
        if pod.get("terminationGracePeriodSeconds", 30) * 1000 <= drain + grace:
            fail(f"{overlay}: {name}'s terminationGracePeriodSeconds is not longer than drain_delay_ms + shutdown_grace_ms ({drain} + {grace} ms)")
        for kind in ("requests", "limits"):
            if "memory" not in c.get("resources", {}).get(kind, {}):
                fail(f"{overlay}: {name} has no memory {kind}")
        own = configs.get(name, {}).get("data", {})
        if own.get("CLOSELOOP_SERVER__LISTEN") != f"0.0.0.0:{port}":
            fail(f"{overlay}: {name}'s ConfigMap does not listen on {port}")
        configured[name] = {host_of(v) for k, v in own.items() if k.startswith("CLOSELOOP_PEERS__")}
        if name not in services or name not in budgets or name not in scalers:
            fail(f"{overlay}: {name} lacks its Service, PodDisruptionBudget or HorizontalPodAutoscaler")
    if configured != compose_graph:
        fail(f"{overlay}: the ConfigMaps' peers {configured} are not docker-compose.yml's {compose_graph}")

    # What the policies allow between the services, both ways, must be exactly the call graph.
    def names(peers):
        return {
            p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
            for p in peers
            if "namespaceSelector" not in p
        } - {None}

    egress, ingress = {}, {}
    for name, port in SERVICES.items():
        spec = policies.get(name, {}).get("spec", {})
        if sorted(spec.get("policyTypes", [])) != ["Egress", "Ingress"]:
            fail(f"{overlay}: {name}'s NetworkPolicy does not govern both directions")
        egress[name] = set().union(*(names(rule.get("to", [])) for rule in spec.get("egress", []))) - {"otel-collector"}
        ingress[name] = set().union(*(names(rule.get("from", [])) for rule in spec.get("ingress", [])))
        for rule in spec.get("ingress", []):
            if any(p.get("port") != port for p in rule.get("ports", [])) or not rule.get("ports"):
                fail(f"{overlay}: {name} admits traffic on other ports than {port}")
        if not any(
            "ipBlock" in to and [p.get("port") for p in rule.get("ports", [])] == [5432]
            for rule in spec.get("egress", [])
            for to in rule.get("to", [])
        ):
            fail(f"{overlay}: {name} may not reach its database")
    callers = {n: {c for c, peers in configured.items() if n in peers} for n in SERVICES}
    if egress != configured:
        fail(f"{overlay}: egress allowed {egress}, calls configured {configured}")
    if ingress != callers:
        fail(f"{overlay}: ingress allowed {ingress}, callers configured {callers}")
    collector = policies.get("otel-collector", {}).get("spec", {})
    if set().union(*(names(r.get("from", [])) for r in collector.get("ingress", []))) != set(SERVICES):
        fail(f"{overlay}: the collector does not admit exactly the four services")
    if "otel-collector" not in deployments:
        fail(f"{overlay}: no collector Deployment")
    ok(f"{overlay}: probes, security, grace period, budgets, autoscalers and policies as promised")


def dockerfile(ci_command):
    with open("deploy/Dockerfile") as f:
        text = f.read().replace("\\\n", " ")
    builds = []
    for line in text.splitlines():
        for part in line.split("&&"):
            words = part.split()
            for i, word in enumerate(words[:-1]):
                if word == "cargo" and words[i + 1] == "build":
                    builds.append(" ".join(words[i:]))
    if builds != [ci_command]:
        fail(f"deploy/Dockerfile builds with {builds}; CI builds with [{ci_command!r}]")
    else:
        ok(f"deploy/Dockerfile builds with CI's command: {ci_command}")


def main():
    ci_command = " ".join(sys.argv[1:])
    if not ci_command:
        raise SystemExit("usage: check.py CARGO_BUILD_COMMAND...")
    compose = compose_file()
    graph = compose_peers(compose)
    for overlay in OVERLAYS:
        resources = render(overlay)
        if resources:
            validate(overlay, resources)
            promises(overlay, resources, graph)
    dockerfile(ci_command)
    if failures:
        raise SystemExit(f"{len(failures)} deployment check(s) failed")


main()
