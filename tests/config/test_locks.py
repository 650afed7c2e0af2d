"""Reproducible installs (issue 22, item 6): both lock files pin every package with its
hashes and are installed with ``--require-hashes``; the image's lock carries no
development tool; the development lock holds the same pins plus them; and kombu's
filesystem transport keeps its state under var/, not in the working tree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.config.test_settings import SETUP, run_python

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "requirements.lock"
DEV = REPO / "requirements-dev.lock"
DEV_TOOLS = {
    "honcho",
    "pytest",
    "pytest-django",
    "pytest-env",
    "ruff",
    "playwright",
    "schemathesis",
    "hypothesis",
    "factory-boy",
    "time-machine",
}


def requirements(path: Path) -> dict[str, tuple[str, str, list[str]]]:
    """{name: (version, marker, hashes)} of a lock file in pip's hash-checking format."""
    found: dict[str, tuple[str, str, list[str]]] = {}
    current = ""
    for line in path.read_text().splitlines():
        text = line.strip().removesuffix("\\").strip()
        if not text or text.startswith("#"):
            continue
        if line[:1].isspace():
            assert text.startswith("--hash=sha256:"), f"{path.name}: {line!r}"
            found[current][2].append(text.split(":", 1)[1])
            continue
        requirement = Requirement(text)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{path.name}: {text} is not pinned"
        current = canonicalize_name(requirement.name)
        found[current] = (specifier.version, str(requirement.marker or ""), [])
    return found


def test_every_locked_package_is_pinned_with_its_hashes() -> None:
    for path in (RUNTIME, DEV):
        locked = requirements(path)
        assert len(locked) > 50, path.name
        for name, (_version, _marker, hashes) in locked.items():
            assert hashes, f"{path.name}: {name} has no hash"
            assert all(re.fullmatch(r"[0-9a-f]{64}", value) for value in hashes), name


def test_the_image_lock_carries_no_development_tool() -> None:
    assert not DEV_TOOLS & set(requirements(RUNTIME))
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = {canonicalize_name(Requirement(text).name) for text in declared["dependencies"]}
    dev = {
        canonicalize_name(Requirement(text).name)
        for text in declared["optional-dependencies"]["dev"]
    }
    assert "honcho" in dev and "honcho" not in runtime


def test_the_development_lock_is_the_image_lock_plus_the_tools() -> None:
    runtime, dev = requirements(RUNTIME), requirements(DEV)
    for name, (version, marker, _hashes) in runtime.items():
        assert dev.get(name, ("missing",))[:2] == (version, marker), name
    assert set(dev) - set(runtime) >= DEV_TOOLS


def test_make_and_the_image_install_with_hashes_required() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "pip install --quiet --require-hashes -r requirements-dev.lock" in makefile
    # `make run` starts honcho from the development lock that setup installs.
    assert re.search(r"^run: setup$", makefile, flags=re.MULTILINE)
    assert "$(BIN)/honcho -f Procfile.dev start" in makefile
    # `make lock` writes both files with hashes.
    lock = makefile[makefile.index("\nlock:") :]
    assert "--generate-hashes" in makefile
    assert "-o requirements.lock" in lock and "--extra dev -o requirements-dev.lock" in lock
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "pip install --no-cache-dir --require-hashes -r requirements.lock" in dockerfile
    assert "requirements-dev.lock" not in dockerfile


def test_the_dev_broker_keeps_its_exchange_table_under_var_not_in_the_tree() -> None:
    result = run_python(
        SETUP + "; from django.conf import settings as s; "
        "print(s.CELERY_BROKER_TRANSPORT_OPTIONS['control_folder'])",
        {"DJANGO_ENV": "development", "DATABASE_URL": "", "REDIS_URL": ""},
    )
    assert result.returncode == 0, result.stderr
    folder = Path(result.stdout.split()[-1])
    assert folder.is_relative_to(REPO / "var")
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert "var/" in ignored and "control/" in ignored
