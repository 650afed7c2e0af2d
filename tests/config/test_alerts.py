"""deploy/alerts.yml and deploy/prometheus.yml: the rules parse, each alert asks
about metrics /metrics really exports, and each has a runbook entry in
docs/operations.md; the scrape targets match docker-compose.yml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from config import metrics
from tests.config.test_compose import service_env

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "deploy" / "alerts.yml"
OPERATIONS = REPO / "docs" / "operations.md"
# Series Prometheus makes itself for every target.
PROMETHEUS_OWN = {"up"}
# Every alert the issue asks for, by what it watches.
REQUIRED = {
    "ReadyzFailing",
    "WorkerHeartbeatStale",
    "CeleryQueueBacklog",
    "SpeedToLeadBreaches",
    "SmsFailuresRising",
    "Http5xxRate",
    "TwilioRateLimited",
}


def rules() -> list[dict]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def exported_names() -> set[str]:
    """Every series name a scrape of /metrics can carry, with the suffixes each type adds."""
    metrics.STATE.forget()
    text = metrics.exposition().decode()
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        if family.type == "counter":
            names |= {f"{family.name}_total", f"{family.name}_created"}
        if family.type == "histogram":
            names |= {f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count")}
    return names


def metric_names(expression: str) -> set[str]:
    """Names of the series an expression selects: a name before ``{``, and every
    ``clinic_`` name (those inside functions have no selector)."""
    without_strings = re.sub(r'"[^"]*"', '""', expression)
    selected = set(re.findall(r"([A-Za-z_:][\w:]*)\s*\{", without_strings))
    return selected | set(re.findall(r"\bclinic_\w+", without_strings))


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors of the headings: lower case, punctuation dropped, spaces to -."""
    found = set()
    for heading in re.findall(r"^#+\s+(.+)$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_the_rules_parse_and_every_alert_is_complete():
    found = rules()
    assert found
    names = [rule["alert"] for rule in found]
    assert len(names) == len(set(names))
    assert set(names) >= REQUIRED
    for rule in found:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]
        expression = rule["expr"]
        assert expression.count("(") == expression.count(")"), rule["alert"]
        assert expression.count("{") == expression.count("}"), rule["alert"]
        assert expression.count("[") == expression.count("]"), rule["alert"]


def test_every_alert_asks_about_a_metric_that_is_exported():
    exported = exported_names()
    for rule in rules():
        used = metric_names(rule["expr"])
        assert used, rule["alert"]
        missing = used - exported - PROMETHEUS_OWN
        assert not missing, f"{rule['alert']} uses {sorted(missing)}, not in /metrics"


def test_the_metric_name_reader_sees_selectors_and_function_arguments():
    assert metric_names(
        'sum(rate(clinic_a_total{status=~"5.."}[5m])) / histogram_quantile(0.9, '
        'rate(clinic_b_bucket[5m])) and up{job="x"}'
    ) == {"clinic_a_total", "clinic_b_bucket", "up"}


def test_every_alert_has_a_runbook_entry_in_the_operations_guide():
    guide = OPERATIONS.read_text()
    headings = anchors(guide)
    for rule in rules():
        link = rule["annotations"]["runbook"]
        path, _, anchor = link.partition("#")
        assert path == "docs/operations.md", rule["alert"]
        assert anchor == rule["alert"].lower(), rule["alert"]
        assert anchor in headings, f"docs/operations.md has no heading for {rule['alert']}"


def test_prometheus_scrapes_the_ports_and_path_compose_serves():
    config = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    web, worker = jobs["clinic-web"], jobs["clinic-worker"]
    assert web["metrics_path"] == worker["metrics_path"] == "/metrics"
    assert web["authorization"]["type"] == "Bearer"
    assert web["dns_sd_configs"][0]["port"] == 8000
    assert worker["dns_sd_configs"][0]["names"] == ["worker"]
    assert worker["dns_sd_configs"][0]["port"] == int(service_env("worker")["WORKER_METRICS_PORT"])
    # The alerts' job names are these.
    jobs_in_alerts = set(re.findall(r'job="([^"]+)"', ALERTS.read_text()))
    assert jobs_in_alerts <= set(jobs)


def test_the_web_answers_the_token_prometheus_sends(settings):
    settings.METRICS_TOKEN = "from-the-credentials-file"
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer from-the-credentials-file")
    assert response.status_code == 200
