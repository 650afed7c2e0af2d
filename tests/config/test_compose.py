"""The production stack: docker-compose.yml, the Dockerfile and .env.example agree
with the code they run.

No Docker engine is needed. The files are parsed, and what the containers would do
is run here instead: settings are imported, ``check --deploy``, ``collectstatic``
and gunicorn are run in subprocesses, in a copy of the Docker build context (so a
developer's own ``.env`` cannot leak in, just as ``.dockerignore`` keeps it out of
the image), with an environment built only from the compose file and .env.example.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import re
import runpy
import shlex
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from celery.app.utils import find_app
from celery.beat import beat_nodename
from celery.utils.nodenames import default_nodename, host_format
from django.http.request import validate_host
from gunicorn.util import import_app
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from config.celery import app as celery_app

REPO = Path(__file__).resolve().parents[2]
DJANGO_SERVICES = ("migrate", "web", "worker", "worker-confirmations", "beat")
# The Celery workers: between them they consume every queue the app defines.
WORKER_SERVICES = ("worker", "worker-confirmations")
# What production settings refuse to start without; a tuple is "at least one of".
REQUIRED_IN_PRODUCTION = [
    ("SECRET_KEY",),
    ("FIELD_ENCRYPTION_KEYS",),
    ("LOOKUP_HASH_KEY",),
    ("ALLOWED_HOSTS",),
    ("DATABASE_URL",),
    ("REDIS_URL",),
    ("EMAIL_URL",),
    ("SMS_BACKEND",),
    ("TWILIO_ACCOUNT_SID",),
    ("TWILIO_AUTH_TOKEN",),
    ("TWILIO_MESSAGING_SERVICE_SID", "TWILIO_FROM_NUMBER"),
]
SUBPROCESS_TIMEOUT = 120

# --- Reading the files ----------------------------------------------------------

_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)"
)


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Substitute ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and ``$$``
    as docker compose does."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op"), match.group("arg")
        value = variables.get(name)
        missing = value is None or (value == "" and op is not None and op.startswith(":"))
        if missing and op is not None and op.endswith("?"):
            raise ValueError(f"compose would refuse to start: {name}: {arg}")
        if missing and op is not None and op.endswith("-"):
            return arg
        return value or ""

    return _VARIABLE.sub(substitute, text)


def interpolate_all(node: Any, variables: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [interpolate_all(item, variables) for item in node]
    if isinstance(node, dict):
        return {key: interpolate_all(value, variables) for key, value in node.items()}
    return node


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines, as compose reads an env_file; quotes around a value are dropped."""
    variables = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, separator, value = line.partition("=")
        assert separator and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), f"not KEY=value: {line!r}"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        variables[key] = value
    return variables


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), with continuation lines joined and comments dropped."""
    instructions, pending = [], ""
    for line in (REPO / "Dockerfile").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def dockerfile_env() -> dict[str, str]:
    return dict(
        token.split("=", 1)
        for keyword, arguments in dockerfile_instructions()
        if keyword == "ENV"
        for token in shlex.split(arguments)
    )


def dockerfile_cmd() -> list[str]:
    commands = [json.loads(args) for keyword, args in dockerfile_instructions() if keyword == "CMD"]
    assert commands, "the Dockerfile has no CMD"
    return commands[-1]


def example_env() -> dict[str, str]:
    return read_env_file(REPO / ".env.example")


def _stand_in(name: str) -> str:
    """A fixed, real-looking secret for ``name`` (letters and digits)."""
    return hashlib.sha256(f"deployed {name}".encode()).hexdigest()


def deployed_env() -> dict[str, str]:
    """.env.example with every value it says to replace replaced, as ``cp .env.example
    .env`` and an operator would (production refuses the example secrets)."""
    variables = example_env()
    for name, value in variables.items():
        variables[name] = re.sub(r"change-me[\w-]*", _stand_in(name), value)
    variables["FIELD_ENCRYPTION_KEYS"] = base64.urlsafe_b64encode(
        hashlib.sha256(b"deployed FIELD_ENCRYPTION_KEYS").digest()
    ).decode()
    return variables


def compose(variables: dict[str, str] | None = None) -> dict[str, Any]:
    """docker-compose.yml as compose sees it, with a deployed .env.example standing in
    for .env (or ``variables``)."""
    raw = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return interpolate_all(raw, deployed_env() if variables is None else variables)


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def shell_words(command: str | list[str]) -> list[str]:
    """A compose command as words; ``sh -c "..."`` is split into the script's words."""
    words = shlex.split(command) if isinstance(command, str) else list(command)
    if words[:2] == ["sh", "-c"]:
        return shlex.split(words[2])
    return words


def option(words: list[str], *names: str) -> str | None:
    for index, word in enumerate(words):
        for name in names:
            if word == name:
                return words[index + 1]
            if word.startswith(f"{name}="):
                return word.split("=", 1)[1]
    return None


def program(words: list[str], name: str) -> list[str]:
    """The words of the ``name`` invocation inside a shell command line."""
    start = words.index(name)
    end = next((i for i in range(start, len(words)) if words[i] in {"&&", "||", ";"}), len(words))
    return words[start:end]


def service_env(name: str, variables: dict[str, str] | None = None) -> dict[str, str]:
    """The variables a compose service's container starts with: env_file (a deployed
    .env.example, or ``variables``), then environment."""
    variables = deployed_env() if variables is None else variables
    definition = compose(variables)["services"][name]
    env_files = definition.get("env_file", [])
    env_files = [env_files] if isinstance(env_files, str) else env_files
    assert env_files == [".env"], f"{name} should read .env, not {env_files}"
    environment = definition.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {**dockerfile_env(), **variables, **{k: str(v) for k, v in environment.items()}}


def process_env(variables: dict[str, str]) -> dict[str, str]:
    """Only ``variables``: nothing from the test run's own environment but PATH."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **variables}


def settings_source() -> str:
    return (REPO / "config" / "settings.py").read_text()


def variables_read_by_settings() -> set[str]:
    return set(re.findall(r"\benv\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", settings_source()))


# --- Running what the containers would run --------------------------------------------


def dockerignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def build_context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of what ``COPY . .`` puts in the image: the repository minus .dockerignore."""
    patterns = dockerignore_patterns()
    assert not any(p.startswith("!") for p in patterns), "exceptions are not modelled here"

    def ignored(directory: str, names: list[str]) -> set[str]:
        relative = Path(directory).relative_to(REPO)
        skipped = set()
        for name in names:
            path = (relative / name).as_posix()
            for pattern in patterns:
                if pattern.startswith("**/"):
                    hit = fnmatch.fnmatch(name, pattern[3:])
                else:
                    hit = fnmatch.fnmatch(path, pattern.strip("/"))
                if hit:
                    skipped.add(name)
        return skipped

    context = tmp_path_factory.mktemp("docker") / "app"
    shutil.copytree(REPO, context, ignore=ignored)
    return context


def run_python(
    args: list[str], *, variables: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=process_env(variables),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def gunicorn_server(build_context: Path, tmp_path: Path) -> Iterator[int]:
    """gunicorn serving the image's WSGI app with production settings; yields its port."""
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    log = log_path.open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            *("-m", "gunicorn", "config.wsgi:application"),
            *("--bind", f"127.0.0.1:{port}", "--workers", "1"),
        ],
        cwd=build_context,
        env=process_env(service_env("web")),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                pytest.fail(f"gunicorn exited at start:\n{log_path.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("gunicorn did not listen within 30 seconds")
                time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


# --- The services ---------------------------------------------------------------------


def test_stack_has_proxy_postgres_redis_migrate_web_worker_and_beat() -> None:
    assert set(compose()["services"]) == {
        "proxy",
        "postgres",
        "redis",
        "migrate",
        "web",
        "worker",
        "worker-confirmations",
        "beat",
    }


def test_web_worker_and_beat_run_one_django_service_definition() -> None:
    anchor = compose()["x-django"]
    for name in DJANGO_SERVICES:
        definition = service(name)
        for key in ("build", "image", "env_file", "environment"):
            assert definition[key] == anchor[key], f"{name}.{key} differs from x-django"
    assert anchor["build"]["dockerfile"] == "Dockerfile"
    text = (REPO / "docker-compose.yml").read_text()
    assert "x-django: &django\n" in text
    assert text.count("<<: *django\n") == len(DJANGO_SERVICES)


def consumed_queues(name: str) -> list[str]:
    words = shell_words(service(name)["command"])
    assert program(words, "celery")[:4] == ["celery", "-A", "config", "worker"], name
    queues = option(words, "-Q", "--queues")
    assert queues is not None, f"{name} must name its queues"
    return queues.split(",")


def test_the_workers_consume_every_queue_the_app_defines_each_once() -> None:
    consumed = [queue for name in WORKER_SERVICES for queue in consumed_queues(name)]
    defined = [queue.name for queue in celery_app.conf.task_queues]
    assert len(consumed) == len(set(consumed))
    assert set(consumed) == set(defined)
    # Every service running a Celery worker is one of them.
    workers = {
        name
        for name, definition in compose()["services"].items()
        if "worker" in shell_words(definition.get("command") or [])[3:4]
    }
    assert workers == set(WORKER_SERVICES)


def test_every_task_route_leads_to_a_queue_a_worker_consumes() -> None:
    consumed = {queue for name in WORKER_SERVICES for queue in consumed_queues(name)}
    routed = {route["queue"] for route in celery_app.conf.task_routes.values()}
    assert routed | {celery_app.conf.task_default_queue} <= consumed


def test_confirmations_have_their_own_pool_of_threads() -> None:
    assert (
        celery_app.amqp.router.route({}, "scheduling.tasks.submission_confirm")["queue"].name
        == "confirmations"
    )
    assert consumed_queues("worker-confirmations") == ["confirmations"]
    assert "confirmations" not in consumed_queues("worker")
    words = shell_words(service("worker-confirmations")["command"])
    assert option(words, "--pool", "-P") == "threads"
    assert int(option(words, "--concurrency", "-c")) >= 8


def test_beat_runs_celery_beat() -> None:
    words = shell_words(service("beat")["command"])
    assert program(words, "celery")[:4] == ["celery", "-A", "config", "beat"]
    assert "DatabaseScheduler" in celery_app.conf.beat_scheduler


def test_migrations_run_once_in_their_own_one_shot_service() -> None:
    migrate = service("migrate")
    assert shell_words(migrate["command"]) == ["python", "manage.py", "migrate", "--noinput"]
    # Run to completion once, never restarted (a restart would run it again and again).
    assert migrate["restart"] == "no"
    assert "ports" not in migrate and "healthcheck" not in migrate


def test_web_serves_the_wsgi_application_with_gunicorn_and_does_not_migrate() -> None:
    words = shell_words(service("web")["command"])
    assert "manage.py" not in words and "migrate" not in words
    gunicorn = program(words, "gunicorn")
    assert gunicorn[1] == "config.wsgi:application"
    assert option(gunicorn, "--bind", "-b") == "0.0.0.0:8000"


def test_web_serves_with_the_same_gunicorn_command_as_the_image() -> None:
    image = program(shell_words(dockerfile_cmd()), "gunicorn")
    web = program(shell_words(service("web")["command"]), "gunicorn")
    assert web == image
    assert option(image, "--workers", "-w") == "${GUNICORN_WORKERS:-3}"
    assert option(image, "--access-logfile") == "-"


def test_gunicorn_logs_through_the_redacting_logger_of_its_config_file() -> None:
    from gunicorn.config import Config

    from config.access_log import RedactingLogger

    # Nothing on the command lines replaces gunicorn.conf.py's logger or its line format.
    for command in (dockerfile_cmd(), service("web")["command"]):
        gunicorn = program(shell_words(command), "gunicorn")
        assert not [w for w in gunicorn if re.match(r"--(logger|log-?config|access-logformat)", w)]
    config = Config()
    for name, value in runpy.run_path(str(REPO / "gunicorn.conf.py")).items():
        if name in config.settings:
            config.set(name, value)
    assert config.logger_class is RedactingLogger


def test_commands_name_modules_that_exist() -> None:
    targets = {
        program(shell_words(dockerfile_cmd()), "gunicorn")[1],
        program(shell_words(service("web")["command"]), "gunicorn")[1],
    }
    assert targets == {"config.wsgi:application"}
    assert callable(import_app("config.wsgi:application"))
    for name in (*WORKER_SERVICES, "beat"):
        celery_target = option(shell_words(service(name)["command"]), "-A", "--app")
        assert find_app(celery_target) is celery_app, f"{name}: -A {celery_target}"


def test_django_services_wait_for_healthy_postgres_and_redis() -> None:
    for name in DJANGO_SERVICES:
        depends_on = service(name)["depends_on"]
        for dependency in ("postgres", "redis"):
            assert depends_on[dependency] == {"condition": "service_healthy"}, name


def test_web_worker_and_beat_start_only_after_the_migrations_completed() -> None:
    for name in ("web", *WORKER_SERVICES, "beat"):
        depends_on = service(name)["depends_on"]
        assert depends_on["migrate"] == {"condition": "service_completed_successfully"}, name
    assert "migrate" not in service("migrate")["depends_on"]


def test_every_service_has_a_healthcheck() -> None:
    for name, definition in compose()["services"].items():
        if definition.get("restart") == "no":
            continue  # a one-shot job: its exit code is its health
        test = definition.get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"}, f"{name} has no healthcheck"


def test_postgres_and_redis_healthchecks_ask_the_server_itself() -> None:
    postgres = service("postgres")["healthcheck"]["test"]
    assert postgres[1] == "pg_isready"
    assert "--username=clinic" in postgres and "--dbname=clinic" in postgres
    assert service("redis")["healthcheck"]["test"][1:] == ["redis-cli", "ping"]


def test_worker_and_beat_healthchecks_ping_their_own_celery_node() -> None:
    # Docker sets HOSTNAME to the container's host name, which celery's %h expands to.
    here = socket.gethostname()
    nodes = [(name, default_nodename) for name in WORKER_SERVICES] + [("beat", beat_nodename)]
    for name, default_node in nodes:
        command = shell_words(service(name)["command"])
        probe = shell_words(service(name)["healthcheck"]["test"][1])
        assert program(probe, "celery")[:5] == ["celery", "-A", "config", "inspect", "ping"]
        destination = option(probe, "--destination", "-d").replace("$HOSTNAME", here)
        node = host_format(default_node(option(command, "--hostname", "-n")))
        assert destination == node, name
    # Beat answers pings only with remote control on.
    assert "--enable-remote-control" in shell_words(service("beat")["command"])


def test_web_healthcheck_passes_against_gunicorn_with_production_settings(
    gunicorn_server: int,
) -> None:
    test = service("web")["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    script = test[3]
    assert "http://127.0.0.1:8000/healthz" in script
    script = script.replace("127.0.0.1:8000", f"127.0.0.1:{gunicorn_server}")
    result = run_python(["-c", script], variables=service_env("web"), cwd=REPO)
    assert result.returncode == 0, result.stderr


def test_redis_keeps_the_broker_queues_across_a_restart() -> None:
    redis = service("redis")
    assert option(shell_words(redis["command"]), "--appendonly") == "yes"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    assert redis["volumes"][0].split(":")[0] in compose()["volumes"]


def test_postgres_keeps_its_data_in_a_named_volume() -> None:
    volumes = service("postgres")["volumes"]
    assert "postgres-data:/var/lib/postgresql/data" in volumes
    assert "postgres-data" in compose()["volumes"]


def test_django_connects_to_the_database_compose_creates() -> None:
    postgres = service("postgres")["environment"]
    url = urlsplit(service_env("web")["DATABASE_URL"])
    assert (url.hostname, url.port) == ("postgres", 5432)
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password == postgres["POSTGRES_PASSWORD"]
    assert url.path == f"/{postgres['POSTGRES_DB']}"


def test_compose_refuses_to_start_without_a_postgres_password() -> None:
    raw = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    variables = {k: v for k, v in example_env().items() if k != "POSTGRES_PASSWORD"}
    with pytest.raises(ValueError, match="POSTGRES_PASSWORD"):
        interpolate_all(raw, variables)


# --- The proxy: the one public entry ----------------------------------------------------


def caddyfile() -> str:
    return (REPO / "deploy" / "Caddyfile").read_text()


def caddy_lines() -> list[str]:
    """The Caddyfile's lines, stripped, comments dropped."""
    return [line.split("#", 1)[0].strip() for line in caddyfile().splitlines()]


def caddy_block(name: str) -> list[str]:
    """The directive lines inside the Caddyfile's ``name {`` block."""
    lines = caddy_lines()
    start = lines.index(f"{name} {{")
    end = lines.index("}", start)
    return [line for line in lines[start + 1 : end] if line]


def published(definition: dict[str, Any]) -> list[tuple[str, str]]:
    """(host address, host port) of each published port ("" address: every interface)."""
    found = []
    for entry in definition.get("ports", []):
        parts = str(entry).split("/")[0].split(":")
        if len(parts) == 3:
            found.append((parts[0], parts[1]))
        elif len(parts) == 2:
            found.append(("", parts[0]))
        else:
            found.append(("", ""))  # a container port alone: a random host port
    return found


def test_only_the_proxy_is_reachable_from_outside_the_host() -> None:
    for name, definition in compose()["services"].items():
        public = [port for address, port in published(definition) if address != "127.0.0.1"]
        if name == "proxy":
            assert sorted(set(public)) == ["443", "80"]
        else:
            assert public == [], f"{name} publishes {public} beyond 127.0.0.1"
    assert published(service("web")) == [("127.0.0.1", "8000")]


def test_the_proxy_is_the_official_caddy_image_pinned_by_version() -> None:
    assert re.fullmatch(r"caddy:\d+\.\d+\.\d+(-alpine)?", service("proxy")["image"])


def test_the_proxy_serves_the_committed_caddyfile_for_the_public_address() -> None:
    proxy = service("proxy")
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    # Certificates and their keys outlive the container.
    assert {"caddy-data:/data", "caddy-config:/config"} <= set(proxy["volumes"])
    assert {"caddy-data", "caddy-config"} <= set(compose()["volumes"])
    # The site is the host of PUBLIC_BASE_URL (Caddy reads {$VAR} from its environment).
    sites = [line for line in caddyfile().splitlines() if line.endswith("{") and line[0] != "\t"]
    assert sites == ["{$PUBLIC_BASE_URL} {"]
    assert proxy["environment"]["PUBLIC_BASE_URL"] == service_env("web")["PUBLIC_BASE_URL"]
    assert urlsplit(proxy["environment"]["PUBLIC_BASE_URL"]).scheme == "https"
    # ...in front of gunicorn, once web is healthy.
    port = option(program(shell_words(service("web")["command"]), "gunicorn"), "--bind")
    assert f"reverse_proxy web:{port.rsplit(':', 1)[1]}" in caddy_block("{$PUBLIC_BASE_URL}")
    assert proxy["depends_on"]["web"] == {"condition": "service_healthy"}


def test_the_proxy_needs_public_base_url_to_start() -> None:
    raw = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    variables = {k: v for k, v in deployed_env().items() if k != "PUBLIC_BASE_URL"}
    with pytest.raises(ValueError, match="PUBLIC_BASE_URL"):
        interpolate_all(raw, variables)


def test_web_believes_x_forwarded_for_from_the_proxys_network_only() -> None:
    import ipaddress

    definition = compose()
    (subnet,) = [entry["subnet"] for entry in definition["networks"]["edge"]["ipam"]["config"]]
    for name in DJANGO_SERVICES:
        assert service_env(name)["TRUSTED_PROXIES"] == subnet
    on_edge = {
        name for name, d in definition["services"].items() if "edge" in d.get("networks", [])
    }
    assert on_edge == {"proxy", "web"}
    assert service("proxy")["networks"] == ["edge"]
    # Web still reaches the database and the broker on the default network.
    assert set(service("web")["networks"]) == {"default", "edge"}
    assert ipaddress.ip_network(subnet).is_private
    # Caddy trusts no client's header: it writes X-Forwarded-For afresh for web.
    assert not [line for line in caddy_lines() if "trusted_proxies" in line]


def test_the_proxy_adds_only_headers_the_app_does_not_set(
    build_context: Path, gunicorn_server: int
) -> None:
    headers = caddy_block("header")
    overwritten = {line.split()[0].lower() for line in headers if line[0] not in "?-+>"}
    defaults = {line.split()[0][1:].lower() for line in headers if line[0] == "?"}
    removed = {line.split()[0][1:].lower() for line in headers if line[0] == "-"}
    assert "permissions-policy" in overwritten and "server" in removed
    # What the app answers with, on production settings, as Caddy would ask (a stranger
    # asking for the API's map: refused, and needing no database to say so).
    variables = service_env("web")
    host = urlsplit(variables["PUBLIC_BASE_URL"]).hostname
    request = urllib.request.Request(
        f"http://127.0.0.1:{gunicorn_server}/api/schema/",
        headers={"Host": host, "X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.1"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)  # noqa: S310
    assert refused.value.code == 403
    app = {name.lower() for name in refused.value.headers}
    for name in ("content-security-policy", "x-frame-options", "strict-transport-security"):
        assert name in app, name
    assert not overwritten & app, "the Caddyfile overwrites what the app sets"
    assert defaults <= app, "a ? default must be a header the app sends itself"


# --- Production settings from compose + .env.example ---------------------------------


def test_every_django_service_gets_the_same_production_environment() -> None:
    environments = [service_env(name) for name in DJANGO_SERVICES]
    assert environments[0]["DJANGO_ENV"] == "production"
    assert all(environment == environments[0] for environment in environments)


def test_production_settings_load_from_compose_and_env_example(build_context: Path) -> None:
    result = run_python(
        ["-c", "import config.settings"], variables=service_env("web"), cwd=build_context
    )
    assert result.returncode == 0, result.stderr


def test_production_settings_refuse_the_env_example_left_as_it_is(build_context: Path) -> None:
    result = run_python(
        ["-c", "import config.settings"],
        variables=service_env("web", example_env()),
        cwd=build_context,
    )
    assert result.returncode != 0
    assert "is an example value" in result.stderr.splitlines()[-1], result.stderr


@pytest.mark.parametrize("names", REQUIRED_IN_PRODUCTION, ids="+".join)
def test_production_settings_refuse_to_load_without(
    names: tuple[str, ...], build_context: Path
) -> None:
    variables = {k: v for k, v in service_env("web").items() if k not in names}
    result = run_python(["-c", "import config.settings"], variables=variables, cwd=build_context)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert all(name in result.stderr.splitlines()[-1] for name in names), result.stderr


def test_deploy_checks_pass_with_the_example_configuration(build_context: Path) -> None:
    result = run_python(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        variables=service_env("web"),
        cwd=build_context,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_twilio_callbacks_reach_an_allowed_https_address() -> None:
    variables = service_env("web")
    public = urlsplit(variables["PUBLIC_BASE_URL"])
    assert public.scheme == "https"
    assert validate_host(public.hostname, variables["ALLOWED_HOSTS"].split(","))


def test_env_example_mentions_every_variable_the_settings_read() -> None:
    text = (REPO / ".env.example").read_text()
    missing = {
        name
        for name in variables_read_by_settings()
        if not re.search(rf"^(?:#\s*)?{name}[=:]", text, flags=re.MULTILINE)
    }
    assert not missing, f"document these in .env.example: {sorted(missing)}"


def test_env_example_sets_nothing_the_stack_ignores() -> None:
    used_by_stack = variables_read_by_settings() | set(
        re.findall(
            r"\$\{([A-Z][A-Z0-9_]*)",
            (REPO / "docker-compose.yml").read_text() + (REPO / "Dockerfile").read_text(),
        )
    )
    assert set(example_env()) - used_by_stack == set()


# --- The image --------------------------------------------------------------------


def test_image_collects_static_files_with_only_its_build_time_values(
    build_context: Path,
) -> None:
    (collect,) = [args for keyword, args in dockerfile_instructions() if "collectstatic" in args]
    words = shlex.split(collect)
    assignments = [word for word in words if re.match(r"[A-Z_][A-Z0-9_]*=", word)]
    command = words[len(assignments) :]
    assert command == ["python", "manage.py", "collectstatic", "--noinput"]
    variables = {**dockerfile_env(), **dict(word.split("=", 1) for word in assignments)}
    assert variables["DJANGO_ENV"] == "production"
    result = run_python(command[1:], variables=variables, cwd=build_context)
    assert result.returncode == 0, result.stderr
    assert (build_context / "staticfiles" / "staticfiles.json").is_file()


def test_image_bakes_no_configuration_but_django_env() -> None:
    baked = set(dockerfile_env())
    assert baked & variables_read_by_settings() == {"DJANGO_ENV"}
    assert dockerfile_env()["DJANGO_ENV"] == "production"


def test_image_runs_as_a_non_root_user() -> None:
    users = [args for keyword, args in dockerfile_instructions() if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}


def test_image_starts_from_python_3_11_slim_and_installs_the_lock_file() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    runs = [args for keyword, args in instructions if keyword == "RUN"]
    assert "pip install --no-cache-dir --require-hashes -r requirements.lock" in runs


def test_image_installs_every_runtime_dependency_the_project_declares() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    locked = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        requirement = line.removesuffix("\\").split(";", 1)[0].strip()
        name, separator, version = requirement.partition("==")
        if separator and line[:1].strip():
            locked[canonicalize_name(name)] = version.strip()
    unpinned = [
        requirement
        for requirement in map(Requirement, declared)
        if str(requirement.specifier) != f"=={locked.get(canonicalize_name(requirement.name))}"
    ]
    assert not unpinned, f"requirements.lock lacks {unpinned}: run make lock"


def test_build_context_leaves_out_local_state_and_secrets() -> None:
    patterns = set(dockerignore_patterns())
    assert {".env", ".venv", "var", ".git", "staticfiles", "**/__pycache__"} <= patterns
    assert {".pytest_cache", ".ruff_cache", ".hypothesis"} <= patterns


def test_build_context_leaves_out_tests_benchmarks_docs_ci_and_the_dev_lock(
    build_context: Path,
) -> None:
    for name in ("tests", "bench", "docs", ".ci", "requirements-dev.lock"):
        assert not (build_context / name).exists(), f"{name} would be baked into the image"
    # What the image needs is still there.
    for name in ("manage.py", "config", "intake", "templates", "static", "requirements.lock"):
        assert (build_context / name).exists(), name


# --- Metrics ----------------------------------------------------------------------------


def test_every_django_container_keeps_metric_samples_in_its_own_directory() -> None:
    for name in DJANGO_SERVICES:
        directory = service_env(name)["PROMETHEUS_MULTIPROC_DIR"]
        assert directory.startswith("/"), name
        # Not a volume: web and worker must not sum each other's samples.
        mounts = [volume.split(":")[1] for volume in service(name).get("volumes", [])]
        assert not any(directory.startswith(mount) for mount in mounts), name


@pytest.mark.parametrize("name", WORKER_SERVICES)
def test_the_worker_serves_its_metrics_on_the_port_it_exposes_to_the_network_only(
    name: str,
) -> None:
    variables = service_env(name)
    port = variables["WORKER_METRICS_PORT"]
    assert int(port) > 0
    assert variables["WORKER_METRICS_ADDRESS"] == "0.0.0.0"  # noqa: S104
    assert port in [str(exposed) for exposed in service(name)["expose"]]
    assert not any(port in str(published) for published in service(name).get("ports", []))


def test_gunicorn_reads_the_repository_config_that_empties_the_samples_directory() -> None:
    for command in (dockerfile_cmd(), service("web")["command"]):
        gunicorn = program(shell_words(command), "gunicorn")
        assert option(gunicorn, "--config", "-c") is None  # so ./gunicorn.conf.py is read
    assert (REPO / "gunicorn.conf.py").is_file()
    assert not any(fnmatch.fnmatch("gunicorn.conf.py", p) for p in dockerignore_patterns())


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_prometheus_scrapes_gunicorn_with_the_token_and_production_settings(
    gunicorn_server: int,
) -> None:
    variables = service_env("web")
    host = variables["ALLOWED_HOSTS"].split(",")[0]
    url = f"http://127.0.0.1:{gunicorn_server}"
    # Plain HTTP to a page: production redirects it to HTTPS, and counts it.
    with pytest.raises(urllib.error.HTTPError) as redirected:
        opener = urllib.request.build_opener(NoRedirect)
        opener.open(
            urllib.request.Request(f"{url}/api/schema/", headers={"Host": host}),  # noqa: S310
            timeout=10,
        )
    assert redirected.value.code == 301
    refused = urllib.request.Request(  # noqa: S310
        f"{url}/metrics", headers={"Authorization": "Bearer wrong"}
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(refused, timeout=30)  # noqa: S310
    assert error.value.code == 401
    # ...and the scrape, by the container's address, not a host name Django allows.
    scrape = urllib.request.Request(  # noqa: S310
        f"{url}/metrics", headers={"Authorization": f"Bearer {variables['METRICS_TOKEN']}"}
    )
    with urllib.request.urlopen(scrape, timeout=60) as response:  # noqa: S310
        text = response.read().decode()
    # Summed from the gunicorn worker's samples file (multiprocess mode).
    assert 'clinic_http_requests_total{method="GET",status="301",view="unresolved"} 1.0' in text, (
        text
    )
    assert 'clinic_ready{check="migrations"}' in text
