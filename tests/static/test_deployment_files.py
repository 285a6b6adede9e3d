"""The deployment files say what the contract says: three services on 8080/8081/8082 over MongoDB (27017)
and Kafka (9092), each image built from its own package only and run as a non-root user, and the
`make install` / `make up` / `make test` entry points that CI and the README rely on."""

from __future__ import annotations

import ast
import fnmatch
import os
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"workflows": 8080, "scheduler": 8081, "runner": 8082}
DEPENDENCIES = {"mongo": 27017, "kafka": 9092}


# --- docker-compose.yaml -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    return loaded


def _published(service: dict[str, Any]) -> dict[int, int]:
    """host port -> container port."""
    mapping: dict[int, int] = {}
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            mapping[int(entry["published"])] = int(entry["target"])
        else:
            *_, host, container = str(entry).split(":")
            mapping[int(host)] = int(container.split("/")[0])
    return mapping


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def test_compose_defines_every_service_and_dependency(compose: dict[str, Any]) -> None:
    assert set(SERVICES) | set(DEPENDENCIES) <= set(compose["services"])


@pytest.mark.parametrize("name, port", [*SERVICES.items(), *DEPENDENCIES.items()])
def test_compose_publishes_the_contract_port(compose: dict[str, Any], name: str, port: int) -> None:
    assert _published(compose["services"][name]).get(port) == port


@pytest.mark.parametrize("name", DEPENDENCIES)
def test_compose_dependencies_have_healthchecks(compose: dict[str, Any], name: str) -> None:
    assert compose["services"][name]["healthcheck"]["test"]


@pytest.mark.parametrize("name, port", SERVICES.items())
def test_compose_service_is_configured_for_the_compose_network(compose: dict[str, Any], name: str, port: int) -> None:
    env = _environment(compose["services"][name])

    assert re.match(r"mongodb://mongo:27017/\w+", env["WFA_MONGO_URL"])
    assert env["WFA_KAFKA_BOOTSTRAP"].split(":")[0] == "kafka"
    assert env["WFA_HTTP_PORT"] == str(port)


def test_compose_kafka_advertises_one_listener_for_the_host_and_one_for_the_services(
    compose: dict[str, Any],
) -> None:
    advertised = _environment(compose["services"]["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    addresses = {listener.split("://")[1] for listener in advertised.split(",")}
    service_bootstrap = _environment(compose["services"]["workflows"])["WFA_KAFKA_BOOTSTRAP"]

    assert "127.0.0.1:9092" in addresses or "localhost:9092" in addresses
    assert service_bootstrap in addresses


@pytest.mark.parametrize("name", SERVICES)
def test_compose_service_waits_for_healthy_dependencies(compose: dict[str, Any], name: str) -> None:
    depends_on = compose["services"][name]["depends_on"]

    assert {dep: depends_on[dep]["condition"] for dep in DEPENDENCIES} == dict.fromkeys(DEPENDENCIES, "service_healthy")


@pytest.mark.parametrize("name", SERVICES)
def test_compose_service_is_built_from_its_own_dockerfile_and_checks_healthz(
    compose: dict[str, Any], name: str
) -> None:
    service = compose["services"][name]

    assert service["build"]["context"] in (".", "./")
    assert service["build"]["dockerfile"] == f"services/{name}/Dockerfile"
    assert "/healthz" in " ".join(service["healthcheck"]["test"])


# --- docker-compose.yaml: traces to Jaeger, metrics to Prometheus -----------------------------------------

OTLP_HTTP_PORT = 4318


def test_compose_runs_jaeger_with_its_ui_and_an_otlp_http_receiver(compose: dict[str, Any]) -> None:
    jaeger = compose["services"]["jaeger"]

    assert jaeger["image"].startswith("jaegertracing/jaeger:2.")  # v2: OTLP native
    assert _published(jaeger).get(16686) == 16686
    assert _published(jaeger).get(OTLP_HTTP_PORT) == OTLP_HTTP_PORT
    assert f"--set=receivers.otlp.protocols.http.endpoint=0.0.0.0:{OTLP_HTTP_PORT}" in jaeger["command"]


@pytest.mark.parametrize("name", SERVICES)
def test_compose_service_exports_its_spans_to_jaeger_over_otlp_http(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    env = _environment(service)

    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://jaeger:{OTLP_HTTP_PORT}"
    assert re.fullmatch(r"(\$\{OTEL_TRACES_EXPORTER:-)?otlp\}?", env["OTEL_TRACES_EXPORTER"])
    assert "jaeger" in service["depends_on"]


def test_compose_runs_prometheus_with_the_scrape_configuration_of_the_repository(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in prometheus["volumes"]}
    config_flag = next(arg for arg in prometheus["command"] if arg.startswith("--config.file="))

    assert _published(prometheus).get(9090) == 9090
    assert mounts["./deploy/prometheus.yml"] == config_flag.removeprefix("--config.file=")
    assert (ROOT / "deploy" / "prometheus.yml").is_file()


def test_prometheus_scrapes_every_service_on_its_contract_port(compose: dict[str, Any]) -> None:
    config: dict[str, Any] = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        if job.get("metrics_path", "/metrics") == "/metrics"
        for static in job["static_configs"]
        for target in static["targets"]
    }

    assert {f"{name}:{port}" for name, port in SERVICES.items()} <= targets
    assert {target.split(":")[0] for target in targets} <= set(compose["services"])


# --- Dockerfiles ---------------------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def _stages(dockerfile: Path) -> list[Stage]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif stages:
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


def _copy_sources(stage: Stage) -> list[str]:
    sources = []
    for args in stage.args("COPY"):
        words = [word for word in shlex.split(args) if not word.startswith("--")]
        sources += words[:-1]
    return sources


def _workspace_manifests() -> set[str]:
    workspace = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    found = set()
    for pattern in workspace["members"]:
        for member in ROOT.glob(pattern):
            if (member / "pyproject.toml").is_file():
                found.add(f"{member.relative_to(ROOT).as_posix()}/pyproject.toml")
    return found


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_is_multi_stage_and_runs_from_a_slim_python(name: str) -> None:
    stages = _stages(ROOT / "services" / name / "Dockerfile")
    builder_names = {stage.name for stage in stages[:-1]}
    final = stages[-1]

    assert len(stages) >= 2
    assert any("--from=builder" in args and "/app/.venv" in args for args in final.args("COPY"))
    assert "builder" in builder_names
    assert "uv sync" not in " ".join(final.args("RUN"))


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_runs_as_a_non_root_user(name: str) -> None:
    users = _stages(ROOT / "services" / name / "Dockerfile")[-1].args("USER")

    assert users
    assert users[-1].split(":")[0] not in ("root", "0")


@pytest.mark.parametrize("name, port", SERVICES.items())
def test_dockerfile_exposes_the_contract_port_and_runs_the_console_script(name: str, port: int) -> None:
    final = _stages(ROOT / "services" / name / "Dockerfile")[-1]
    scripts = tomllib.loads((ROOT / "services" / name / "pyproject.toml").read_text())["project"]["scripts"]

    assert str(port) in " ".join(final.args("EXPOSE")).split()
    assert final.args("CMD")[-1] == f'["{name}-svc"]'
    assert f"{name}-svc" in scripts
    assert "/healthz" in final.args("HEALTHCHECK")[-1]


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_installs_only_its_own_package(name: str) -> None:
    stages = _stages(ROOT / "services" / name / "Dockerfile")
    builder = next(stage for stage in stages if stage.name == "builder")
    syncs = [args for args in builder.args("RUN") if "uv sync" in args]
    sources = [src for src in _copy_sources(builder) if "/src" in src]

    assert syncs
    for sync in syncs:
        assert "--locked" in sync and "--no-dev" in sync
        assert f"--package wfa-{name}" in sync
    assert sorted(sources) == sorted(["libs/wfa/src", f"services/{name}/src"])


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_copies_every_workspace_manifest_so_the_lock_check_passes(name: str) -> None:
    builder = next(stage for stage in _stages(ROOT / "services" / name / "Dockerfile") if stage.name == "builder")
    copied = {src for src in _copy_sources(builder) if src.endswith("pyproject.toml")}

    assert _workspace_manifests() | {"pyproject.toml"} <= copied
    assert "uv.lock" in _copy_sources(builder)


def _dockerignored(path: str, rules: list[tuple[bool, str]]) -> bool:
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negated, pattern in rules:
        if any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates):
            ignored = not negated
    return ignored


def test_dockerignore_sends_the_sources_and_keeps_local_state_out() -> None:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            rules.append((line.startswith("!"), line.lstrip("!").rstrip("/")))
    needed = ["pyproject.toml", "uv.lock", "libs/wfa/src/wfa/settings.py", *sorted(_workspace_manifests())]
    needed += [f"services/{name}/src/wfa_{name}/__init__.py" for name in SERVICES]
    local = [".venv/bin/python", ".git/HEAD", ".devstack/mongo.log", ".tools/uv/bin/uv", ".env"]

    assert [path for path in needed if _dockerignored(path, rules)] == []
    assert [path for path in local if not _dockerignored(path, rules)] == []


# --- docs: the services, ports and WFA_ variables they document reach compose and the Dockerfiles --------
# (docs/configuration.md, "Main settings", and docs/architecture.md, "The three processes"; the fixture keeps its
# historical name, `readme`.)


@dataclass(frozen=True)
class ReadmeConfiguration:
    ports: dict[str, int]  # service name (as in services/<name>) -> default port
    variables: list[str]


def _doc_table_rows(page: str, heading: str) -> list[list[str]]:
    """The body rows of the first table under `## heading` of a docs page, as lists of cell texts."""
    section = (ROOT / "docs" / page).read_text().split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip().strip("|").split(" | ") for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row] for row in rows[2:]]


@pytest.fixture(scope="module")
def readme() -> ReadmeConfiguration:
    settings = _doc_table_rows("configuration.md", "Main settings")
    variables = [name for row in settings for name in re.findall(r"`(WFA_\w+)`", row[0])]
    port_row = next(row for row in settings if row[0] == "`WFA_HTTP_PORT`")
    ports = [int(port) for port in port_row[1].split(" / ")]
    port_owners = re.search(r"\(([\w /]+)\)", port_row[2])
    assert port_owners, port_row
    processes = {
        row[1].strip("`").removeprefix("services/"): row[0].strip("`")
        for row in _doc_table_rows("architecture.md", "The three processes")
    }
    names = port_owners.group(1).split(" / ")
    assert [processes[name] for name in names] == [f"{name}-svc" for name in names]
    return ReadmeConfiguration(ports=dict(zip(names, ports, strict=True)), variables=variables)


def test_readme_documents_the_services_and_ports_these_checks_use(readme: ReadmeConfiguration) -> None:
    assert readme.ports == SERVICES
    assert {"WFA_MONGO_URL", "WFA_KAFKA_BOOTSTRAP", "WFA_HTTP_PORT", "WFA_TOPIC_PREFIX"} <= set(readme.variables)


@pytest.mark.parametrize("name", SERVICES)
def test_compose_gives_every_service_every_variable_the_readme_documents(
    compose: dict[str, Any], readme: ReadmeConfiguration, name: str
) -> None:
    env = _environment(compose["services"][name])

    assert [variable for variable in readme.variables if variable not in env] == []


@pytest.mark.parametrize("name", SERVICES)
def test_compose_sets_no_wfa_variable_the_readme_does_not_document(
    compose: dict[str, Any], readme: ReadmeConfiguration, name: str
) -> None:
    env = _environment(compose["services"][name])

    assert [variable for variable in env if variable.startswith("WFA_") and variable not in readme.variables] == []


@pytest.mark.parametrize("name", SERVICES)
def test_compose_service_listens_on_its_readme_port(
    compose: dict[str, Any], readme: ReadmeConfiguration, name: str
) -> None:
    service = compose["services"][name]
    port = readme.ports[name]

    assert _environment(service)["WFA_HTTP_PORT"] == str(port)
    assert _published(service).get(port) == port


def _dockerfile_env(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage.args("ENV"):
        words = shlex.split(args)
        if words and "=" not in words[0]:  # the legacy `ENV NAME value` form
            env[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            key, _, value = word.partition("=")
            env[key] = value
    return env


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_runs_its_readme_script_on_its_readme_port(readme: ReadmeConfiguration, name: str) -> None:
    final = _stages(ROOT / "services" / name / "Dockerfile")[-1]
    port = readme.ports[name]
    env = _dockerfile_env(final)

    assert env.get("WFA_HTTP_PORT") == str(port)
    assert str(port) in " ".join(final.args("EXPOSE")).split()
    assert final.args("CMD")[-1] == f'["{name}-svc"]'
    assert f"'{port}'" in final.args("HEALTHCHECK")[-1]


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_sets_no_wfa_variable_the_readme_does_not_document(readme: ReadmeConfiguration, name: str) -> None:
    env = _dockerfile_env(_stages(ROOT / "services" / name / "Dockerfile")[-1])

    assert [variable for variable in env if variable.startswith("WFA_") and variable not in readme.variables] == []


# --- Makefile, start-deps.sh, .ci/run, .env.example -------------------------------------------------------


def _make_recipes() -> dict[str, str]:
    recipes: dict[str, str] = {}
    current = None
    for line in (ROOT / "Makefile").read_text().splitlines():
        target = re.match(r"^([A-Za-z][\w-]*):(?!=)(.*)$", line)
        if target:
            current = target.group(1)
            recipes[current] = target.group(2)
        elif current and line.startswith("\t"):
            recipes[current] += "\n" + line.strip()
        elif not line.strip():
            continue
        else:
            current = None
    return recipes


def test_makefile_has_the_readme_targets() -> None:
    recipes = _make_recipes()

    assert {"install", "up", "test", "lint", "fmt", "bench"} <= set(recipes)
    assert re.search(r"uv\S*\s+sync\s+--locked", recipes["install"], re.IGNORECASE)
    assert "start-deps.sh" in recipes["up"] and "run-services" in recipes["up"]
    assert "install" in recipes["up"].splitlines()[0]


def test_make_test_lints_type_checks_and_runs_pytest() -> None:
    recipes = _make_recipes()
    test_and_prerequisites = recipes["test"] + "\n" + recipes.get("lint", "")

    for tool in ("ruff check", "ruff format --check", "mypy", "pytest"):
        assert tool in test_and_prerequisites


def test_ci_runs_make_test_strictly() -> None:
    script = ROOT / ".ci" / "run"
    text = script.read_text()

    assert text.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in text
    assert re.search(r"^make test\b", text, re.MULTILINE)
    assert os.access(script, os.X_OK)


def test_start_deps_is_executable_and_can_stop_what_it_started() -> None:
    script = ROOT / "start-deps.sh"
    text = script.read_text()

    assert os.access(script, os.X_OK)
    assert "docker info" in text and "compose" in text
    assert re.search(r"^\s*stop\b.*\)", text, re.MULTILINE)


def test_env_example_names_every_contract_variable() -> None:
    names = re.findall(r"^#?\s*(WFA_\w+)=", (ROOT / ".env.example").read_text(), re.MULTILINE)

    assert {
        "WFA_MONGO_URL",
        "WFA_KAFKA_BOOTSTRAP",
        "WFA_HTTP_PORT",
        "WFA_TOPIC_PREFIX",
        "WFA_API_KEYS",
        "WFA_ALLOW_PRIVATE_NETWORKS",
    } <= set(names)


# --- deploy/kubernetes/ -----------------------------------------------------------------------------------

KUBERNETES = ROOT / "deploy" / "kubernetes"
# Replicas a process needs so that losing one pod loses no work: the others take its partitions or shards over.
MIN_REPLICAS = {"workflows": 1, "scheduler": 2, "runner": 2}
SECRET_PREFIX = "WFA_SECRET_"


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    documents = [
        document
        for path in sorted(KUBERNETES.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document is not None
    ]
    assert documents
    return documents


def _of_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {document["metadata"]["name"]: document for document in manifests if document["kind"] == kind}


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _settings_variables() -> set[str]:
    tree = ast.parse((ROOT / "libs" / "wfa" / "src" / "wfa" / "settings.py").read_text())
    settings = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Settings")
    return {
        f"WFA_{statement.target.id.upper()}"
        for statement in settings.body
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
    }


def test_kustomization_lists_every_manifest(manifests: list[dict[str, Any]]) -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])

    assert listed == {path.name for path in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}


def test_kubernetes_has_a_deployment_per_service_and_a_service_for_the_api(manifests: list[dict[str, Any]]) -> None:
    deployments = _of_kind(manifests, "Deployment")
    services = _of_kind(manifests, "Service")

    assert set(deployments) == {f"wfa-{name}" for name in SERVICES}
    api = services["wfa-workflows"]["spec"]
    assert api["selector"] == deployments["wfa-workflows"]["spec"]["template"]["metadata"]["labels"]
    assert [(port["port"], port["targetPort"]) for port in api["ports"]] == [(8080, 8080)]


@pytest.mark.parametrize("name, port", SERVICES.items())
def test_kubernetes_deployment_runs_its_image_on_its_port(
    manifests: list[dict[str, Any]], name: str, port: int
) -> None:
    deployment = _of_kind(manifests, "Deployment")[f"wfa-{name}"]
    container = _container(deployment)
    selector = deployment["spec"]["selector"]["matchLabels"]

    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert container["image"].split(":")[0] == f"wfa-{name}"  # as compose tags the build of its Dockerfile
    assert [p["containerPort"] for p in container["ports"]] == [port]
    assert {"name": "WFA_HTTP_PORT", "value": str(port)} in container["env"]
    assert deployment["spec"]["replicas"] >= MIN_REPLICAS[name]


@pytest.mark.parametrize("name, port", SERVICES.items())
def test_kubernetes_probes_healthz_for_liveness_and_readyz_for_readiness(
    manifests: list[dict[str, Any]], name: str, port: int
) -> None:
    container = _container(_of_kind(manifests, "Deployment")[f"wfa-{name}"])

    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}


@pytest.mark.parametrize("name", SERVICES)
def test_kubernetes_deployment_bounds_its_resources_and_runs_as_the_image_user(
    manifests: list[dict[str, Any]], name: str
) -> None:
    deployment = _of_kind(manifests, "Deployment")[f"wfa-{name}"]
    resources = _container(deployment)["resources"]

    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("name", SERVICES)
def test_kubernetes_configuration_comes_from_the_config_map_and_secrets(
    manifests: list[dict[str, Any]], name: str
) -> None:
    container = _container(_of_kind(manifests, "Deployment")[f"wfa-{name}"])
    config_maps = _of_kind(manifests, "ConfigMap")
    secrets = _of_kind(manifests, "Secret")
    sources = container["envFrom"]
    maps = [source["configMapRef"]["name"] for source in sources if "configMapRef" in source]
    used_secrets = [source["secretRef"]["name"] for source in sources if "secretRef" in source]

    assert maps == ["wfa-config"] and set(maps) <= set(config_maps)
    assert set(used_secrets) <= set(secrets)
    assert {"WFA_MONGO_URL", "WFA_KAFKA_BOOTSTRAP", "WFA_TOPIC_PREFIX"} <= set(config_maps["wfa-config"]["data"])
    if name == "workflows":
        assert any("WFA_API_KEYS" in secrets[secret]["stringData"] for secret in used_secrets)
    if name == "runner":
        assert any(key.startswith(SECRET_PREFIX) for secret in used_secrets for key in secrets[secret]["stringData"])


def test_kubernetes_secrets_hold_the_secret_variables_and_the_config_map_none(
    manifests: list[dict[str, Any]],
) -> None:
    config = _of_kind(manifests, "ConfigMap")["wfa-config"]["data"]
    secret_keys = {key for secret in _of_kind(manifests, "Secret").values() for key in secret["stringData"]}

    assert "WFA_API_KEYS" in secret_keys and "WFA_API_KEYS" not in config
    assert not [key for key in config if key.startswith(SECRET_PREFIX)]
    assert all(isinstance(value, str) for value in config.values())  # a ConfigMap's values must be strings


def test_every_wfa_variable_the_manifests_name_is_a_setting(manifests: list[dict[str, Any]]) -> None:
    named = set(re.findall(r"\bWFA_\w+", "\n".join(path.read_text() for path in KUBERNETES.glob("*.yaml"))))
    known = _settings_variables()

    assert "WFA_MONGO_URL" in known
    assert sorted(name for name in named if name not in known and not name.startswith(SECRET_PREFIX)) == []
