"""REPORTS_DATABASE_URL: marketing's report views read intake's tables from a
replica; sign-in, sessions and every other view stay on the primary."""

from __future__ import annotations

import json

import pytest
from django.db import router

from config.routers import ReportsReplicaRouter
from intake.models import Article, FunnelRollup
from tests.config.test_settings import SETUP, run_python
from tests.signin import verified_login

pytestmark = pytest.mark.django_db


class RecordingRouter(ReportsReplicaRouter):
    """Records where each read would go, then lets it run on the primary (the test
    database has no replica alias)."""

    def __init__(self) -> None:
        self.reads: list[tuple[str, str | None]] = []

    def db_for_read(self, model, **hints):
        self.reads.append((model._meta.label, super().db_for_read(model, **hints)))
        return None


@pytest.fixture
def recording_router(settings, monkeypatch) -> RecordingRouter:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "config.routers.ReportsReplicaMiddleware"]
    recording = RecordingRouter()
    monkeypatch.setattr(router, "routers", [recording])
    return recording


def test_settings_add_the_replica_router_and_middleware_only_with_the_url():
    show = (
        SETUP + "; from django.conf import settings as s; import json; print(json.dumps("
        "{'aliases': sorted(s.DATABASES), 'routers': s.DATABASE_ROUTERS,"
        " 'middleware': 'config.routers.ReportsReplicaMiddleware' in s.MIDDLEWARE,"
        " 'replica': s.DATABASES.get('reports', {}).get('HOST'),"
        " 'test': s.DATABASES.get('reports', {}).get('TEST')}))"
    )
    replica = "postgres://reader:secret@replica.example:5432/clinic"
    env = {"DJANGO_ENV": "test", "DATABASE_URL": "postgres://clinic@db.example:5432/clinic"}
    with_replica = run_python(show, {**env, "REPORTS_DATABASE_URL": replica})
    assert with_replica.returncode == 0, with_replica.stderr
    configured = json.loads(with_replica.stdout.strip().splitlines()[-1])
    assert configured["aliases"] == ["default", "reports"]
    assert configured["routers"] == ["config.routers.ReportsReplicaRouter"]
    assert configured["middleware"] is True
    assert configured["replica"] == "replica.example"
    assert configured["test"]["MIRROR"] == "default"

    without = run_python(show, {**env, "REPORTS_DATABASE_URL": ""})
    assert without.returncode == 0, without.stderr
    plain = json.loads(without.stdout.strip().splitlines()[-1])
    assert (plain["aliases"], plain["routers"], plain["middleware"]) == (["default"], [], False)


def test_the_router_never_writes_or_migrates_the_replica():
    replica = ReportsReplicaRouter()
    assert replica.db_for_write(Article) is None
    assert replica.allow_migrate("reports", "intake") is False
    assert replica.allow_migrate("default", "intake") is None
    # Outside a report view, reads stay on the primary.
    assert replica.db_for_read(FunnelRollup) is None


def test_a_report_view_reads_intake_from_the_replica_and_sign_in_from_the_primary(
    api_client, marketer, recording_router
):
    api_client.force_authenticate(marketer)
    response = api_client.get("/api/v1/reports/articles/")
    assert response.status_code == 200
    decisions = dict(recording_router.reads)
    assert decisions["intake.FunnelRollup"] == "reports"
    assert all(alias is None for label, alias in recording_router.reads if label.startswith("auth"))
    assert any(label.startswith("auth") for label, _ in recording_router.reads)


def test_other_views_and_later_requests_read_the_primary(
    client, marketer, coordinator, recording_router
):
    verified_login(client, marketer)
    assert client.get("/reports/").status_code == 200
    assert ("intake.FunnelRollup", "reports") in recording_router.reads
    recording_router.reads.clear()

    verified_login(client, coordinator)
    assert client.get("/api/v1/callbacks/").status_code == 200
    assert recording_router.reads
    assert all(alias is None for _label, alias in recording_router.reads)
