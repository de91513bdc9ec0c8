"""The checks of deploy/check.sh (which installs the tools and runs this from the repository's root).

Each check prints `ok NAME` or `FAIL NAME` with what is wrong; the last line counts them.
"""

import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import yaml

DEPLOY = Path("deploy")
K8S = DEPLOY / "k8s"
# The Kubernetes versions the manifests must be valid for: an old one still run by banks, and
# the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ["1.29.0", "1.37.0"]
# The metric names the workers export (issue 17); the dashboard and the HPA use only these.
COUNTERS = ["callscript_calls_placed_total", "callscript_calls_ended_total",
            "callscript_outcomes_total", "callscript_goals_total"]
GAUGES = ["callscript_calls_live", "callscript_calls_per_second",
          "callscript_worker_draining", "callscript_worker_ready"]
HISTOGRAMS = ["callscript_vm_turn_seconds", "callscript_store_seconds", "callscript_action_seconds"]
METRICS = set(COUNTERS + GAUGES + HISTOGRAMS)
SERIES = set(COUNTERS + GAUGES) | {h + s for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}


class Failed(Exception):
    pass


def run(cmd, **kwargs):
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


def require(condition, message):
    if not condition:
        raise Failed(message)


def documents(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def manifests():
    """Every Kubernetes manifest: the YAML files under deploy/k8s but kustomizations and the
    adapter's Helm values."""
    return sorted(p for p in K8S.rglob("*.yaml")
                  if p.name != "kustomization.yaml" and "adapter" not in p.parts)


def objects():
    found = {}
    for path in manifests():
        for doc in documents(path):
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def duration_seconds(text):
    """`3m`, `30s`, `1h 30m`, `10m` (campaign and compose durations) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    require(isinstance(text, str), f"not a duration: {text!r}")
    parts = re.findall(r"(\d+)\s*([hms])", text)
    require(parts and re.fullmatch(r"(\s*\d+\s*[hms])+\s*", text), f"not a duration: {text!r}")
    return sum(int(n) * units[u] for n, u in parts)


def call_bound(campaign_dir, campaign):
    """How long a live call can take: ring timeout + the script's max_duration + a transfer's
    wait for its NOTIFY (60 s)."""
    script = (campaign_dir / campaign["script"]).read_text()
    found = re.search(r"^\s*max_duration\s+(\S+)", script, re.M)
    require(found, f"{campaign['script']} has no max_duration: a call, and so a drain, is unbounded")
    ring = campaign.get("telephony", {}).get("ring_timeout", "30s")
    return duration_seconds(ring) + duration_seconds(found.group(1)) + 60


def kubernetes_validate(paths, strict=True):
    failures = []
    for version in KUBERNETES_VERSIONS:
        cmd = ["kubernetes-validate", "--quiet", "--no-warn", "-k", version]
        result = run(cmd + (["--strict"] if strict else []) + [str(p) for p in paths])
        if result.returncode != 0:
            failures.append((result.stdout + result.stderr).strip())
    return failures


# --- Kubernetes ---------------------------------------------------------------------------

def check_kubernetes_schemas():
    failures = kubernetes_validate(manifests())
    require(not failures, "\n".join(failures))
    return f"{len(manifests())} files against Kubernetes {' and '.join(KUBERNETES_VERSIONS)} (strict)"


def check_kustomizations():
    notes = []
    for kustomization in sorted(K8S.rglob("kustomization.yaml")):
        folder = kustomization.parent
        listed = documents(kustomization)[0].get("resources", [])
        for resource in listed:
            require((folder / resource).is_file(), f"{kustomization}: resource {resource} does not exist")
        unlisted = {p.name for p in folder.glob("*.yaml")} - set(listed) - {"kustomization.yaml", "secrets.example.yaml"}
        require(not unlisted, f"{kustomization} does not list {sorted(unlisted)}")
        kubectl = run(["sh", "-c", "command -v kubectl"]).stdout.strip()
        if kubectl:
            rendered = run([kubectl, "kustomize", str(folder)])
            require(rendered.returncode == 0, f"kubectl kustomize {folder}: {rendered.stderr.strip()}")
            with tempfile.NamedTemporaryFile("w", suffix=".yaml") as out:
                out.write(rendered.stdout)
                out.flush()
                failures = kubernetes_validate([out.name])
                require(not failures, f"kubectl kustomize {folder}:\n" + "\n".join(failures))
            notes.append(f"{folder} rendered and valid")
        else:
            notes.append(f"{folder} resources listed (no kubectl: not rendered)")
    return "; ".join(notes)


def configmap_campaign(tmp):
    """Writes the ConfigMap's files into tmp and returns the campaign read from it."""
    data = objects()[("ConfigMap", "callscript-campaign")]["data"]
    for name, text in data.items():
        (tmp / name).write_text(text)
    return tomllib.loads(data["campaign.toml"])


def check_kubernetes_consistency():
    found = objects()
    deployment = found[("Deployment", "callscript-worker")]
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    spec = pod["spec"]
    worker = next(c for c in spec["containers"] if c["name"] == "worker")

    def selects(selector):
        return all(labels.get(k) == v for k, v in selector.items())

    require(selects(deployment["spec"]["selector"]["matchLabels"]), "the Deployment's selector misses its pods")
    require(selects(found[("Service", "callscript-metrics")]["spec"]["selector"]), "the metrics Service misses the workers")
    require(selects(found[("PodDisruptionBudget", "callscript-worker")]["spec"]["selector"]["matchLabels"]),
            "the PodDisruptionBudget misses the workers")
    hpa = found[("HorizontalPodAutoscaler", "callscript-worker")]["spec"]
    require(hpa["scaleTargetRef"]["name"] == deployment["metadata"]["name"], "the HPA scales another Deployment")
    for metric in hpa["metrics"]:
        name = metric["pods"]["metric"]["name"]
        require(name in METRICS, f"the HPA reads {name}, which no worker exports")
    require("replicas" not in deployment["spec"], "the Deployment sets replicas, which the HPA owns")

    args = worker["args"]
    require(args[:2] == ["worker", "/etc/callscript/campaign.toml"], f"the worker runs {args}")
    require(args[args.index("--metrics") + 1] == "0.0.0.0:9464", "the worker's metrics are not on 0.0.0.0:9464")
    require(worker["livenessProbe"]["httpGet"]["path"] == "/healthz", "liveness is not /healthz")
    require(worker["readinessProbe"]["httpGet"]["path"] == "/readyz", "readiness is not /readyz")
    security = spec["securityContext"]
    require(security.get("runAsNonRoot") and security.get("runAsUser", 0) != 0, "the pod may run as root")
    for container in spec["containers"] + spec.get("initContainers", []):
        require(container["securityContext"].get("readOnlyRootFilesystem"), f"{container['name']}: writable root")
        require(container["securityContext"].get("allowPrivilegeEscalation") is False, f"{container['name']}: may escalate")

    # Every Secret, ConfigMap and claim the pods use is defined (Secrets in the template).
    for volume in spec["volumes"]:
        if "secret" in volume:
            require(("Secret", volume["secret"]["secretName"]) in found, f"no Secret {volume['secret']['secretName']}")
        if "configMap" in volume:
            require(("ConfigMap", volume["configMap"]["name"]) in found, f"no ConfigMap {volume['configMap']['name']}")
        if "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            require(("PersistentVolumeClaim", claim) in found, f"no PersistentVolumeClaim {claim}")
    env = {e["name"]: e for e in worker["env"]}
    for variable in env.values():
        ref = variable.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            secret = found.get(("Secret", ref["name"]))
            require(secret and ref["key"] in secret["stringData"], f"no Secret key {ref['name']}/{ref['key']}")

    with tempfile.TemporaryDirectory() as tmp:
        campaign = configmap_campaign(Path(tmp))
        require("PGPASSWORD" in env, "the worker has no PGPASSWORD")
        password_env = campaign["telephony"].get("auth_password_env")
        require(password_env is None or password_env in env, f"the worker has no {password_env}")
        mounts = {m["mountPath"] for m in worker["volumeMounts"]}
        for key in ("key_file", "dir"):
            path = campaign["recording"][key]
            require(any(path.startswith(m + "/") or path == m for m in mounts), f"[recording] {key} {path} is on no volume")
        bound = call_bound(Path(tmp), campaign)
        grace = spec["terminationGracePeriodSeconds"]
        require(grace >= bound, f"terminationGracePeriodSeconds {grace} is shorter than a call ({bound} s): SIGKILL cuts live calls")
    return f"selectors, HPA metric, probes, security, Secrets and volumes; grace {grace} s >= a call's {bound} s"


def check_configmap_copies():
    with tempfile.TemporaryDirectory() as tmp:
        configmap_campaign(Path(tmp))
        for name in ("confirm.call", "customers.csv"):
            require((Path(tmp) / name).read_text() == (DEPLOY / "campaign" / name).read_text(),
                    f"the ConfigMap's {name} differs from deploy/campaign/{name}")
    return "confirm.call and customers.csv match deploy/campaign/"


def check_campaigns():
    callscript = os.environ.get("CALLSCRIPT")
    if not callscript:
        return "SKIPPED: no callscript binary (CI requires one)"
    with tempfile.TemporaryDirectory() as tmp:
        configmap_campaign(Path(tmp))
        for campaign in (DEPLOY / "campaign" / "campaign.toml", Path(tmp) / "campaign.toml"):
            result = run([callscript, "check", str(campaign)])
            label = "the ConfigMap's campaign" if str(campaign).startswith(tmp) else str(campaign)
            require(result.returncode == 0, f"callscript check {label}:\n{result.stdout}{result.stderr}")
    return f"{callscript} check: deploy/campaign and the ConfigMap's campaign"


# --- Compose -------------------------------------------------------------------------------

def check_compose_schema():
    result = run(["check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(DEPLOY / "compose.yaml")])
    require(result.returncode == 0, (result.stdout + result.stderr).strip())
    return "the Compose specification's schema"


def check_compose_consistency():
    compose = documents(DEPLOY / "compose.yaml")[0]
    services = compose["services"]
    stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", (DEPLOY / "Dockerfile").read_text(), re.M | re.I))
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            require(dependency in services, f"{name} depends on {dependency}, which is no service")
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                require((DEPLOY / source).exists(), f"{name} mounts {source}, which does not exist")
            else:
                require(source in compose.get("volumes", {}), f"{name} mounts volume {source}, which is not declared")
        networks = service.get("networks", [])
        for network in networks if isinstance(networks, list) else networks.keys():
            require(network in compose.get("networks", {}), f"{name} joins network {network}, which is not declared")
        build = service.get("build")
        if build:
            require((DEPLOY / build["context"] / build["dockerfile"]).is_file(), f"{name}: no {build['dockerfile']}")
            require(build.get("target", "runtime") in stages | {"runtime"}, f"{name}: no stage {build.get('target')}")

    # The campaign dials the carrier at a literal address: the carrier's fixed one.
    campaign = tomllib.loads((DEPLOY / "campaign" / "campaign.toml").read_text())
    gateway = re.fullmatch(r"sip:([\d.]+):(\d+)", campaign["telephony"]["gateway"])
    require(gateway, f"the campaign's gateway {campaign['telephony']['gateway']} is not sip:IP:PORT")
    carrier = services["carrier"]
    address = carrier["networks"]["callscript"]["ipv4_address"]
    require(gateway.group(1) == address, f"the campaign dials {gateway.group(1)}, the carrier is at {address}")
    require(gateway.group(2) == carrier["command"][carrier["command"].index("-p") + 1], "the carrier listens on another port")
    subnet = ipaddress.ip_network(compose["networks"]["callscript"]["ipam"]["config"][0]["subnet"])
    require(ipaddress.ip_address(address) in subnet, f"the carrier's {address} is outside {subnet}")
    store = campaign["store"]["url"]
    require(re.match(r"postgres://[^:@]+@postgres[:/]", store), f"the campaign's store {store} is not the postgres service (or holds a password)")

    worker = services["worker"]
    require(worker["command"][1] == "/etc/callscript/campaign.toml", "the workers run another campaign file")
    require("PGPASSWORD" in worker["environment"], "the workers have no PGPASSWORD")
    password_env = campaign["telephony"].get("auth_password_env")
    require(password_env is None or password_env in worker["environment"], f"the workers have no {password_env}")
    grace = duration_seconds(worker["stop_grace_period"])
    bound = call_bound(DEPLOY / "campaign", campaign)
    require(grace >= bound, f"stop_grace_period {grace} s is shorter than a call ({bound} s)")
    return f"services, volumes, networks, build stages; gateway {address}; grace {grace} s >= {bound} s"


# --- The rest ------------------------------------------------------------------------------

def check_dockerfile():
    dockerfile = DEPLOY / "Dockerfile"
    # DL3008 asks to pin apt package versions: the images take Debian's security updates of
    # the release instead.
    result = run(["hadolint", "--no-color", "--ignore", "DL3008", str(dockerfile)])
    require(result.returncode == 0, (result.stdout + result.stderr).strip())
    for source in re.findall(r"^COPY\s+(?!--from)(\S+)\s", dockerfile.read_text(), re.M):
        require(source == "." or Path(source).exists(), f"COPY {source}: no such file")
    return "hadolint, COPY sources exist"


def dashboard_problems(dashboard):
    problems = []
    if dashboard.get("schemaVersion", 0) < 36:
        problems.append(f"schemaVersion {dashboard.get('schemaVersion')} < 36")
    if not any(i.get("name") == "DS_PROMETHEUS" for i in dashboard.get("__inputs", [])):
        problems.append("no DS_PROMETHEUS input")
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dashboard["panels"]]
    if len(ids) != len(set(ids)):
        problems.append("panel ids repeat")
    used = set()
    for panel in panels:
        if not panel.get("targets"):
            problems.append(f"panel {panel['title']!r} has no query")
        for target in panel.get("targets", []):
            if target.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
                problems.append(f"panel {panel['title']!r}: a query not on ${{DS_PROMETHEUS}}")
            for name in re.findall(r"\b(callscript_[a-z0-9_]+)", target["expr"]):
                if name not in SERIES:
                    problems.append(f"panel {panel['title']!r} queries {name}, which no worker exports")
                used.add(re.sub(r"_(bucket|sum|count)$", "", name) if name not in METRICS else name)
    missing = METRICS - used
    if missing:
        problems.append(f"no panel shows {sorted(missing)}")
    return problems


def check_grafana():
    dashboard = json.loads((DEPLOY / "grafana" / "callscript.json").read_text())
    problems = dashboard_problems(dashboard)
    require(not problems, "\n".join(problems))
    count = sum(1 for p in dashboard["panels"] if p["type"] != "row")
    return f"{count} panels, schemaVersion {dashboard['schemaVersion']}, every query on the {len(METRICS)} metric names"


def check_other_files():
    ElementTree.parse(DEPLOY / "carrier" / "uas.xml")
    for path in [DEPLOY / "prometheus.yml", *sorted((DEPLOY / "grafana" / "provisioning").rglob("*.yaml")),
                 *sorted((K8S / "adapter").glob("*.yaml"))]:
        documents(path)
    adapter = documents(K8S / "adapter" / "prometheus-adapter-values.yaml")[0]
    for rule in adapter["rules"]["custom"]:
        require(rule["name"]["as"] in METRICS, f"the adapter serves {rule['name']['as']}, which no worker exports")
    return "carrier scenario XML, Prometheus, Grafana provisioning and adapter YAML parse"


def check_validators_reject_bad_files():
    """Each validator must fail on a known-bad file, so a validator that passes everything
    (a broken install, a changed option) cannot make this script green."""
    deployment = (K8S / "deployment.yaml").read_text()
    compose = (DEPLOY / "compose.yaml").read_text()
    with tempfile.TemporaryDirectory() as tmp:
        bad = {
            "an integer that is a string": deployment.replace("revisionHistoryLimit: 5", 'revisionHistoryLimit: "five"'),
            "an unknown field": deployment.replace("terminationGracePeriodSeconds: 300", "terminationGracePeriod: 300"),
        }
        for what, text in bad.items():
            require(text != deployment, f"could not make {what}")
            path = Path(tmp) / "deployment.yaml"
            path.write_text(text)
            require(kubernetes_validate([path]), f"kubernetes-validate accepted {what}")
        broken = compose.replace("condition: service_healthy", "condition: healthy", 1)
        require(broken != compose, "could not break compose.yaml")
        path = Path(tmp) / "compose.yaml"
        path.write_text(broken)
        result = run(["check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)])
        require(result.returncode != 0, "check-jsonschema accepted depends_on condition: healthy")
        dashboard = json.loads((DEPLOY / "grafana" / "callscript.json").read_text())
        target = next(p for p in dashboard["panels"] if p["type"] != "row")["targets"][0]
        target["expr"] = "sum(callscript_calls_dropped_total)"
        require(dashboard_problems(dashboard), "the dashboard check accepted an unknown metric")
    return "a string for an integer, an unknown field, a wrong compose condition, an unknown metric"


CHECKS = [
    ("kubernetes schemas", check_kubernetes_schemas),
    ("kustomizations", check_kustomizations),
    ("kubernetes consistency", check_kubernetes_consistency),
    ("configmap copies", check_configmap_copies),
    ("campaigns", check_campaigns),
    ("compose schema", check_compose_schema),
    ("compose consistency", check_compose_consistency),
    ("dockerfile", check_dockerfile),
    ("grafana dashboard", check_grafana),
    ("other files", check_other_files),
    ("validators reject bad files", check_validators_reject_bad_files),
]


def main():
    passed = failed = 0
    for name, check in CHECKS:
        try:
            note = check()
            print(f"ok    {name}: {note}")
            passed += 1
        except Exception as error:  # a malformed file fails its check, not the script
            detail = str(error) if isinstance(error, Failed) else f"{type(error).__name__}: {error}"
            print(f"FAIL  {name}: {detail}")
            failed += 1
    print(f"deploy: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
