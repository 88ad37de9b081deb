"""deploy/: the compose stack, the Kubernetes manifests (and their several-replicas overlay) and
the Grafana dashboard.

No network and no containers: files parse, configurations validate with poller's own loader,
the pieces agree with each other (ports, paths, resource names), and every PromQL expression in
the dashboard names only series and labels the daemon exports. `docker compose config` and
`kubectl kustomize` run only when those tools are installed (both work offline).
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from poller.arns import Arn
from poller.config.loader import parse_config
from poller.config.models import PollerConfig
from poller.config.settings import DynamoDbState, SqliteState
from poller.telemetry.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_DIR = DEPLOY / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
K8S_DIR = DEPLOY / "kubernetes"
K8S_REPLICAS_DIR = DEPLOY / "kubernetes-replicas"
DASHBOARD = DEPLOY / "grafana" / "poller.json"

# Labels Prometheus attaches to every scraped series (target labels), usable in any query.
TARGET_LABELS = frozenset({"job", "instance"})
METRIC = re.compile(r"poller_[a-z_]+")
SELECTOR = re.compile(r"(poller_[a-z_]+)\s*\{([^}]*)\}")
MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
LABEL_VALUES = re.compile(r"label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)")
LEGEND_LABEL = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yml", ".yaml"})


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def compose() -> dict[str, Any]:
    data = load_yaml(COMPOSE_FILE)
    assert isinstance(data, dict)
    return data


def k8s_documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)
    return docs


def k8s_object(kind: str) -> dict[str, Any]:
    found = [d for d in k8s_documents() if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def compose_config() -> PollerConfig:
    return parse_config((COMPOSE_DIR / "poller.yaml").read_text(encoding="utf-8"), {})


def k8s_config() -> PollerConfig:
    return parse_config(k8s_object("ConfigMap")["data"]["config.yaml"], {})


# --- every YAML file ---------------------------------------------------------------------


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    assert docs, f"{path} is empty"
    assert all(isinstance(d, dict) for d in docs)


def test_deploy_has_the_expected_files() -> None:
    for relative in (
        "grafana/poller.json",
        "compose/docker-compose.yml",
        "compose/poller.yaml",
        "compose/prometheus.yml",
        "compose/create-resources.sh",
        "kubernetes/kustomization.yaml",
        "kubernetes-replicas/kustomization.yaml",
    ):
        assert (DEPLOY / relative).is_file(), relative


# --- compose -----------------------------------------------------------------------------


def test_compose_has_the_four_services() -> None:
    services = compose()["services"]
    assert {"localstack", "poller", "prometheus", "grafana"} <= set(services)


def test_localstack_image_starts_without_an_auth_token() -> None:
    """localstack/localstack 4.15+ and the CalVer releases (2026.03.0 on) exit at start without
    LOCALSTACK_AUTH_TOKEN, as does `latest` since 2026-03-23: the tag must be a pinned 3.x/4.x
    release before 4.15."""
    image = compose()["services"]["localstack"]["image"]
    name, _, tag = image.partition(":")
    assert name == "localstack/localstack"
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?", tag)
    assert match, f"pin a release tag, not {tag!r}"
    major, minor = int(match[1]), int(match[2])
    assert major >= 3
    assert (major, minor) < (4, 15)


def test_localstack_healthcheck_and_poller_waits_for_it() -> None:
    services = compose()["services"]
    check = services["localstack"]["healthcheck"]
    command = " ".join(check["test"]) if isinstance(check["test"], list) else check["test"]
    assert "/_localstack/health" in command
    assert "/_localstack/init/ready" in command  # the READY hook (create-resources.sh) finished
    depends = services["poller"]["depends_on"]
    assert depends["localstack"]["condition"] == "service_healthy"


def test_localstack_runs_create_resources_as_ready_hook() -> None:
    volumes = compose()["services"]["localstack"]["volumes"]
    hooks = [v for v in volumes if "/etc/localstack/init/ready.d/" in v]
    assert hooks
    assert hooks[0].split(":")[0] == "./create-resources.sh"
    # LocalStack runs only executable hook scripts.
    assert (COMPOSE_DIR / "create-resources.sh").stat().st_mode & 0o111


def test_compose_bind_mounts_exist_and_build_context_has_the_dockerfile() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE_DIR / source).exists(), f"{name}: {source}"
    build = services["poller"]["build"]
    context = COMPOSE_DIR / build["context"]
    assert (context / build.get("dockerfile", "Dockerfile")).is_file()
    assert context.resolve() == ROOT


def test_compose_poller_config_validates() -> None:
    config = compose_config()
    assert config.aws.endpoint_url == "http://localstack:4566"
    assert config.http.enabled
    assert config.http.host == "0.0.0.0"
    assert config.state.backend == "sqlite"
    kinds = {Arn.parse(m.event_source_arn).service for m in config.mappings}
    assert kinds == {"sqs", "kinesis", "dynamodb"}
    handlers = {f.handler for f in config.functions.values()}
    assert handlers == {
        "poller.demo.orders:handler",
        "poller.demo.stream_handlers:clicks",
        "poller.demo.stream_handlers:inventory",
    }


def test_compose_state_path_is_on_the_state_volume() -> None:
    config = compose_config()
    services = compose()["services"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in services["poller"]["volumes"]}
    assert isinstance(config.state, SqliteState)
    state_dir = str(Path(config.state.path).parent)
    assert mounts.get(state_dir) in compose()["volumes"]
    assert mounts["/etc/poller/config.yaml"] == "./poller.yaml"


def test_create_resources_makes_every_source_and_destination() -> None:
    script = (COMPOSE_DIR / "create-resources.sh").read_text(encoding="utf-8")
    assert script.startswith("#!")
    assert "set -euo pipefail" in script
    for mapping in compose_config().mappings:
        assert Arn.parse(mapping.event_source_arn).resource_name in script
        destination = getattr(mapping, "destination_config", None)
        if destination is not None and destination.on_failure.destination:
            assert Arn.parse(destination.on_failure.destination).resource_name in script


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_create_resources_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(COMPOSE_DIR / "create-resources.sh")], check=True)


def test_prometheus_scrapes_poller() -> None:
    config = load_yaml(COMPOSE_DIR / "prometheus.yml")
    port = compose_config().http.port
    targets = [
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    ]
    assert f"poller:{port}" in targets
    poller_job = next(j for j in config["scrape_configs"] if j["job_name"] == "poller")
    assert poller_job.get("metrics_path", "/metrics") == "/metrics"


def test_grafana_provisioning_points_at_prometheus_and_the_dashboard() -> None:
    provisioning = COMPOSE_DIR / "grafana" / "provisioning"
    sources = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert any(s["type"] == "prometheus" and s["url"] == "http://prometheus:9090" for s in sources)
    providers = load_yaml(provisioning / "dashboards" / "poller.yml")["providers"]
    grafana = compose()["services"]["grafana"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    dashboard_path = providers[0]["options"]["path"]
    assert any(
        target.startswith(dashboard_path) and source == "../grafana/poller.json"
        for target, source in mounted.items()
    )
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"


def docker_compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not docker_compose_available(), reason="docker compose is not installed")
def test_docker_compose_config() -> None:
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# --- Kubernetes --------------------------------------------------------------------------


def test_kustomization_lists_every_manifest() -> None:
    kustomization = load_yaml(K8S_DIR / "kustomization.yaml")
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present
    kinds = {d["kind"] for d in k8s_documents()}
    assert {"ConfigMap", "Deployment", "Service"} <= kinds


def test_k8s_config_validates_for_a_single_replica() -> None:
    config = k8s_config()
    assert config.state.backend == "sqlite"
    assert config.http.host == "0.0.0.0"
    assert not config.embedded.enabled


def container() -> dict[str, Any]:
    containers = k8s_object("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def test_deployment_is_one_non_root_replica() -> None:
    deployment = k8s_object("Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    security = container()["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False


def test_deployment_probes_ports_and_resources() -> None:
    spec = container()
    port = k8s_config().http.port
    named = {p["name"]: p["containerPort"] for p in spec["ports"]}
    assert port in named.values()

    def probe_port(probe: dict[str, Any]) -> int:
        value = probe["httpGet"]["port"]
        return int(named[value]) if isinstance(value, str) else int(value)

    assert spec["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert spec["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert probe_port(spec["livenessProbe"]) == port
    assert probe_port(spec["readinessProbe"]) == port
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(spec["resources"][kind])
    annotations = k8s_object("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)


def test_deployment_mounts_config_and_writable_state() -> None:
    deployment = k8s_object("Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container()["volumeMounts"]}
    state = k8s_config().state
    assert isinstance(state, SqliteState)
    state_dir = str(Path(state.path).parent)
    assert "emptyDir" in volumes[mounts[state_dir]]
    config_volume = volumes[mounts["/etc/poller"]]
    assert config_volume["configMap"]["name"] == k8s_object("ConfigMap")["metadata"]["name"]
    assert container()["args"] == ["run", "-c", "/etc/poller/config.yaml"]


def test_service_selects_the_deployment() -> None:
    service = k8s_object("Service")
    labels = k8s_object("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] in {"http", k8s_config().http.port}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_builds() -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S_DIR)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    kinds = {d["kind"] for d in yaml.safe_load_all(result.stdout) if d}
    assert {"ConfigMap", "Deployment", "Service"} <= kinds


# --- Kubernetes: the several-replicas overlay ---------------------------------------------


def overlay_patches() -> list[dict[str, Any]]:
    kustomization = load_yaml(K8S_REPLICAS_DIR / "kustomization.yaml")
    patches = []
    for entry in kustomization["patches"]:
        assert set(entry) == {"path"}, f"a plain strategic merge patch file, not {entry}"
        patch = load_yaml(K8S_REPLICAS_DIR / entry["path"])
        assert isinstance(patch, dict)
        patches.append(patch)
    return patches


def strategic_merge(base: dict[str, Any], patch: dict[str, Any], path: str = "") -> dict[str, Any]:
    """kustomize's strategic merge, for patches without lists: maps merge key by key, a scalar
    replaces. (Lists merge by a per-field key in Kubernetes; the overlay's patches have none.)"""
    merged = dict(base)
    for key, value in patch.items():
        assert not isinstance(value, list), f"{path}{key}: list patches are not modelled here"
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = strategic_merge(base[key], value, f"{path}{key}.")
        else:
            merged[key] = value
    return merged


def overlay_object(kind: str) -> dict[str, Any]:
    """The base object of `kind` with the overlay's patches for it applied."""
    result = k8s_object(kind)
    for patch in overlay_patches():
        if patch["kind"] == kind and patch["metadata"]["name"] == result["metadata"]["name"]:
            result = strategic_merge(result, patch)
    return result


def overlay_config() -> PollerConfig:
    return parse_config(overlay_object("ConfigMap")["data"]["config.yaml"], {})


def test_replicas_overlay_builds_on_the_base() -> None:
    kustomization = load_yaml(K8S_REPLICAS_DIR / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    assert [(K8S_REPLICAS_DIR / r).resolve() for r in kustomization["resources"]] == [K8S_DIR]
    # kustomize refuses an overlay inside its own base directory (a cycle).
    assert not K8S_REPLICAS_DIR.resolve().is_relative_to(K8S_DIR)
    base = {(d["kind"], d["metadata"]["name"]) for d in k8s_documents()}
    patched = [(p["kind"], p["metadata"]["name"]) for p in overlay_patches()]
    assert set(patched) <= base, set(patched) - base
    assert sorted(patched) == [("ConfigMap", "poller-config"), ("Deployment", "poller")]


def test_replicas_overlay_runs_several_replicas_on_dynamodb_state() -> None:
    deployment = overlay_object("Deployment")
    assert deployment["spec"]["replicas"] > 1
    assert deployment["spec"]["template"] == k8s_object("Deployment")["spec"]["template"]
    config = overlay_config()
    assert isinstance(config.state, DynamoDbState)
    assert config.state.table == "poller-leases"
    assert config.state.worker_id is None  # host:pid:random; the host name is the pod's name


def test_replicas_overlay_config_differs_from_the_base_only_in_state() -> None:
    overlay, base = overlay_config(), k8s_config()
    assert overlay.model_dump(exclude={"state"}) == base.model_dump(exclude={"state"})
    assert overlay.state != base.state


def test_strategic_merge_merges_maps_and_replaces_scalars() -> None:
    base = {"spec": {"replicas": 1, "strategy": {"type": "Recreate"}}, "data": {"a": "1"}}
    patch = {"spec": {"replicas": 3}, "data": {"a": "2"}}
    assert strategic_merge(base, patch) == {
        "spec": {"replicas": 3, "strategy": {"type": "Recreate"}},
        "data": {"a": "2"},
    }
    with pytest.raises(AssertionError):
        strategic_merge(base, {"spec": {"containers": []}})


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_builds_the_replicas_overlay() -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S_REPLICAS_DIR)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    built = {d["kind"]: d for d in yaml.safe_load_all(result.stdout) if d}
    assert {"ConfigMap", "Deployment", "Service", "ServiceAccount"} <= set(built)
    # The hand-applied patches above agree with kustomize's own merge (the template differs
    # only by the base's images: transform).
    ours, theirs = overlay_object("Deployment")["spec"], built["Deployment"]["spec"]
    assert {k: v for k, v in theirs.items() if k != "template"} == {
        k: v for k, v in ours.items() if k != "template"
    }
    assert built["ConfigMap"]["data"] == overlay_object("ConfigMap")["data"]


# --- the Grafana dashboard against the daemon's metrics ----------------------------------


@functools.cache
def exported_series() -> dict[str, frozenset[str]]:
    """Every sample name poller exposes, with its label names, as Prometheus scrapes them:
    counters as `<name>_total` (and `_created`), histograms as `_bucket` / `_sum` / `_count`,
    gauges as named. Series without labels-at-start are created here with dummy labels."""
    metrics = Metrics()
    metrics.register_mapping("m", "f", "sqs")
    metrics.duration.labels("m", "f", "sqs").observe(0.1)
    metrics.iterator_age.labels("m", "f", "kinesis", "shardId-000000000000").set(1)
    metrics.shard_lag.labels("m", "f", "kinesis", "shardId-000000000000").set(1)
    metrics.shards_owned.labels("m", "f", "kinesis").set(1)
    metrics.register_leases("m", "f", "kinesis")
    metrics.source_errors.labels("m", "f", "sqs", "ReceiveMessage", "ThrottlingException").inc()
    metrics.aws_api_calls.labels("sqs", "ReceiveMessage").inc()
    metrics.register_reloads("f")
    series: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        assert family.samples, f"{family.name}: give it labels in exported_series()"
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    return {name: frozenset(labels) for name, labels in series.items()}


def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def targets() -> list[tuple[str, dict[str, Any]]]:
    return [
        (panel["title"], target)
        for panel in all_panels(dashboard()["panels"])
        for target in panel.get("targets", [])
    ]


def variable_queries() -> list[str]:
    queries = []
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        queries.append(query["query"] if isinstance(query, dict) else query)
    return queries


def check_expression(expr: str, legend: str, series: dict[str, frozenset[str]]) -> list[str]:
    """Problems with one PromQL expression: unknown series, unknown labels."""
    names = METRIC.findall(expr)
    problems = [f"{name} is not exported" for name in names if name not in series]
    if problems or not names:
        return problems or [f"names no poller series: {expr}"]
    available = TARGET_LABELS.union(*(series[name] for name in names))
    for name, matchers in SELECTOR.findall(expr):
        for label in MATCHER.findall(matchers):
            if label not in series[name] | TARGET_LABELS:
                problems.append(f"{name} has no label {label!r}")
    for group in GROUPING.findall(expr):
        for label in filter(None, (part.strip() for part in group.split(","))):
            if label not in available:
                problems.append(f"grouping by {label!r}, which none of {names} has")
    for label in LEGEND_LABEL.findall(legend):
        if label not in available:
            problems.append(f"legend uses {label!r}, which none of {names} has")
    return problems


def test_exported_series_match_the_readme_suffixes() -> None:
    series = exported_series()
    assert "poller_invocations_total" in series
    assert {"poller_duration_seconds_bucket", "poller_duration_seconds_sum"} <= set(series)
    assert "le" in series["poller_duration_seconds_bucket"]
    assert series["poller_iterator_age_seconds"] == {"mapping", "function", "source", "shard"}
    assert series["poller_aws_api_calls_total"] == {"service", "operation"}


def test_dashboard_names_only_exported_series_and_labels() -> None:
    series = exported_series()
    problems = []
    found = targets()
    assert found
    for title, target in found:
        expr = target["expr"]
        problems += [
            f"{title}: {p}" for p in check_expression(expr, target["legendFormat"], series)
        ]
    for query in variable_queries():
        match = LABEL_VALUES.fullmatch(query.strip())
        assert match, query
        problems += [f"variable {query}: {p}" for p in check_expression(match[1], "", series)]
        if match[2] not in TARGET_LABELS.union(*(series[n] for n in METRIC.findall(match[1]))):
            problems.append(f"variable {query}: no series has label {match[2]!r}")
    assert not problems, "\n".join(problems)


def test_the_checker_catches_wrong_names_and_labels() -> None:
    series = exported_series()
    assert check_expression("rate(poller_invocations[5m])", "", series)  # missing _total
    assert check_expression("poller_duration_seconds", "", series)  # histograms need a suffix
    assert check_expression('poller_aws_api_calls_total{mapping="m"}', "", series)
    assert check_expression("sum by (shard) (rate(poller_errors_total[5m]))", "", series)
    assert check_expression("poller_errors_total", "{{queue}}", series)
    ok = 'sum by (mapping, shard) (poller_iterator_age_seconds{mapping=~"$mapping"})'
    assert check_expression(ok, "{{mapping}} {{shard}}", series) == []


def test_dashboard_covers_the_requested_panels() -> None:
    exprs = " ".join(target["expr"] for _, target in targets())
    for name in (
        "poller_invocations_total",
        "poller_invoked_events_total",
        "poller_polled_events_total",
        "poller_errors_total",
        "poller_throttles_total",
        "poller_duration_seconds_bucket",
        "poller_iterator_age_seconds",
        "poller_shard_lag_seconds",
        "poller_on_failure_destination_delivered_events_total",
        "poller_destination_delivery_failures_total",
        "poller_dropped_events_total",
        "poller_deleted_events_total",
        "poller_failed_invoke_events_total",
        "poller_filtered_out_events_total",
        "poller_concurrent_executions",
        "poller_sqs_pollers",
        "poller_shards_owned",
        "poller_source_errors_total",
    ):
        assert name in exprs, name
    assert "histogram_quantile(0.99" in exprs
    assert "histogram_quantile(0.5" in exprs


def test_dashboard_structure() -> None:
    data = dashboard()
    assert data["uid"]
    assert data["schemaVersion"] >= 36
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    assert {"mapping", "function"} <= set(variables)
    panels = list(all_panels(data["panels"]))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"
    # The mapping / function variables reach every query of a mapping-labelled series.
    for title, target in targets():
        names = METRIC.findall(target["expr"])
        if any("mapping" in exported_series()[n] for n in names):
            assert '"$mapping"' in target["expr"], title
            assert '"$function"' in target["expr"], title


def test_ci_runs_the_readme_set_up_commands_verbatim() -> None:
    # The README's set-up is two commands; CI must run the test one exactly as written.
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Set-up: two commands", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.+?)\n```", section)
    assert len(commands) == 2
    assert commands[0].endswith(".venv/bin/poller demo")
    assert commands[1].endswith(".venv/bin/pytest")
    assert commands[1] in (ROOT / ".ci" / "run").read_text().splitlines()
