"""What a reload looks like to each sink, and how webhook URLs stay secret
(reloader.alerting.messages, reloader.alerting.urls)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from reloader.alerting.messages import (
    Reload,
    Sink,
    description,
    parse_sink,
    payload,
    text,
    webhook_body,
)
from reloader.alerting.urls import check, redact, scrub

RELOAD = Reload(
    kind="Deployment",
    namespace="shop",
    name="web",
    changed=("ConfigMap/cfg", "Secret/creds"),
    old_hash="aaaa1111",
    new_hash="bbbb2222",
    at=1_767_225_600.0,  # 2026-01-01T00:00:00Z
)


def test_slack_gets_a_text_naming_the_workload_the_namespace_and_each_changed_object() -> None:
    body = payload(Sink.SLACK, RELOAD)
    assert set(body) == {"text"}
    assert body["text"] == (
        "reloader rolled *Deployment/web* in namespace *shop* for changed *ConfigMap/cfg*, "
        "*Secret/creds* (config hash aaaa1111 -> bbbb2222)"
    )


def test_google_chat_gets_the_same_text_as_slack() -> None:
    assert payload(Sink.GCHAT, RELOAD) == payload(Sink.SLACK, RELOAD)


def test_teams_gets_a_message_card_with_markdown_bold() -> None:
    body = payload(Sink.TEAMS, RELOAD, additional_info="prod-eu")
    assert body["@type"] == "MessageCard"
    assert body["@context"] == "https://schema.org/extensions"
    assert body["summary"] == "reloader rolled Deployment/web in shop"
    assert body["text"].startswith("prod-eu : reloader rolled **Deployment/web** in namespace")
    assert "**ConfigMap/cfg**" in body["text"]


def test_raw_is_an_object_a_program_can_read() -> None:
    body = payload(Sink.RAW, RELOAD, additional_info="  cluster=prod-eu  ")
    assert body == {
        "kind": "Deployment",
        "namespace": "shop",
        "name": "web",
        "changed": ["ConfigMap/cfg", "Secret/creds"],
        "oldHash": "aaaa1111",
        "newHash": "bbbb2222",
        "time": "2026-01-01T00:00:00Z",
        "additionalInfo": "cluster=prod-eu",
        "text": "cluster=prod-eu : reloader rolled Deployment/web in namespace shop for changed "
        "ConfigMap/cfg, Secret/creds (config hash aaaa1111 -> bbbb2222)",
    }
    json.dumps(body)  # serialisable as it is


def test_raw_without_additional_info_says_null() -> None:
    assert payload(Sink.RAW, RELOAD)["additionalInfo"] is None


def test_additional_info_comes_first_as_in_stakater_reloader() -> None:
    assert text(RELOAD, additional_info="prod").startswith("prod : reloader rolled")
    assert text(RELOAD, additional_info="   ").startswith("reloader rolled")


def test_a_first_roll_without_an_old_hash_says_none() -> None:
    first = Reload("StatefulSet", "db", "pg", (), None, "cccc", RELOAD.at)
    assert text(first, bold="") == (
        "reloader rolled StatefulSet/pg in namespace db for changed its configuration "
        "(config hash none -> cccc)"
    )


def test_a_reload_carries_names_and_hashes_only_so_no_message_can_hold_a_value() -> None:
    # Every payload is built from a Reload alone; the integration test checks a real alert
    # for the values of the ConfigMap and Secret that changed.
    assert [f.name for f in dataclasses.fields(Reload)] == [
        "kind",
        "namespace",
        "name",
        "changed",
        "old_hash",
        "new_hash",
        "at",
    ]


def test_the_webhook_url_body_keeps_stakaters_one_field_and_describes_the_change() -> None:
    body = webhook_body(RELOAD)
    assert body["webhook"] == "update successful"
    assert {k: v for k, v in body.items() if k != "webhook"} == description(RELOAD)
    assert body["changed"] == ["ConfigMap/cfg", "Secret/creds"]


@pytest.mark.parametrize(
    ("given", "sink"),
    [
        ("slack", Sink.SLACK),
        (" Teams ", Sink.TEAMS),
        ("GCHAT", Sink.GCHAT),
        ("raw", Sink.RAW),
        ("", Sink.RAW),  # Stakater's default
        ("webhook", Sink.RAW),  # the value Stakater's docs name for its default
    ],
)
def test_alert_sink_reads_stakaters_values(given: str, sink: Sink) -> None:
    assert parse_sink(given) is sink


def test_an_unknown_sink_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="use one of slack, teams, gchat, raw"):
        parse_sink("email")


# --- URLs are credentials ---

SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"


def test_redact_keeps_only_the_scheme_and_host() -> None:
    assert redact(SLACK_URL) == "https://hooks.slack.com/***"
    assert redact("http://user:pw@[::1]:8443/x?token=1") == "http://[::1]:8443/***"
    assert redact("http://host:99999999/x") == "***"


def test_check_accepts_http_urls_and_refuses_others_without_repeating_them() -> None:
    assert check(f"  {SLACK_URL}\n", what="ALERT_WEBHOOK_URL") == SLACK_URL
    for bad in ("hooks.slack.com/services/T000/B000/XXXXsecretXXXX", "ftp://h/XXXXsecretXXXX"):
        with pytest.raises(ValueError, match="ALERT_WEBHOOK_URL") as caught:
            check(bad, what="ALERT_WEBHOOK_URL")
        assert "XXXXsecretXXXX" not in str(caught.value)


def test_scrub_removes_the_url_its_path_query_and_password_from_an_error() -> None:
    url = "https://bot:hunter2@chat.example/v1/spaces/AAA/messages?key=K3Y&token=T0K"
    error = (
        f"Cannot connect to {url}; path /v1/spaces/AAA/messages; "
        "query key=K3Y&token=T0K; password hunter2"
    )
    scrubbed = scrub(error, url)
    for secret in ("hunter2", "K3Y", "T0K", "/v1/spaces/AAA"):
        assert secret not in scrubbed
    assert "https://chat.example/***" in scrubbed
