"""Access rules, users and identities (unit)."""

from __future__ import annotations

from typing import Any

import pytest

from rag import AccessRules, NotSignedIn, User, from_claims, identify
from rag.core.access import EVERYONE, can_read, can_write, chroma_where
from rag.core.errors import SettingsError

pytestmark = pytest.mark.unit


def test_first_matching_rule_decides_and_unmatched_files_are_open() -> None:
    rules = AccessRules(
        {"hr/payroll/**": ["payroll"], "hr/**": ["hr"], "*.xlsx": ["finance"], "/board.pdf": ["board"]}
    )
    assert rules.labels("hr/payroll/2026.xlsx") == ["payroll"]
    assert rules.labels("hr/handbook.pdf") == ["hr"]
    assert rules.labels("sales/forecast.xlsx") == ["finance"]
    assert rules.labels("board.pdf") == ["board"]
    assert rules.labels("minutes/board.pdf") == [EVERYONE]
    assert rules.labels("hrx/notes.md") == [EVERYONE]
    assert not AccessRules({}) and AccessRules({}).labels("anything.pdf") == [EVERYONE]


def test_reading_and_writing() -> None:
    ann = User.of("ann", ["hr", " staff ", ""])
    assert ann.groups == frozenset({"hr", "staff"})
    assert can_read(ann, ["hr"]) and can_read(ann, [EVERYONE]) and not can_read(ann, ["board"])
    assert not can_read(ann, None)  # a chunk indexed before labels: only unrestricted callers
    assert can_read(None, ["board"]) and can_read(None, None)
    assert can_write(None, ["writers"]) and not can_write(ann, ["writers"])
    assert can_write(User.of("w", ["writers"]), ["writers"])
    assert chroma_where(None) is None
    assert chroma_where(User.of("x")) == {"access": {"$contains": EVERYONE}}
    assert chroma_where(ann) == {"$or": [{"access": {"$contains": g}} for g in ("*", "hr", "staff")]}


def test_rules_and_proxies_are_checked_in_settings(make_settings: Any) -> None:
    with pytest.raises(SettingsError, match="needs a glob and at least one group"):
        make_settings(access_rules={"hr/**": []})
    with pytest.raises(SettingsError, match="not an IP address"):
        make_settings(trusted_proxies=["proxy.local"])
    with pytest.raises(SettingsError, match="chroma_url"):
        make_settings(chroma_url="localhost:8000")


def test_identity_from_a_trusted_proxy_only(make_settings: Any) -> None:
    settings = make_settings(auth="proxy", trusted_proxies=["10.0.0.0/8", "127.0.0.1"])
    headers = {"X-Forwarded-User": "ann@example.com", "X-Forwarded-Groups": "hr, staff"}
    assert identify(settings, headers, "10.1.2.3") == User.of("ann@example.com", ["hr", "staff"])
    lowered = identify(settings, {k.lower(): v for k, v in headers.items()}, "127.0.0.1")
    assert lowered is not None and lowered.id == "ann@example.com"
    with pytest.raises(NotSignedIn, match="trusted_proxies"):
        identify(settings, headers, "192.168.1.9")  # anyone can send the header: not believed
    with pytest.raises(NotSignedIn, match="x-forwarded-user"):
        identify(settings, {}, "10.1.2.3")
    with pytest.raises(NotSignedIn):
        identify(settings, headers, None)


def test_no_sign_in_is_single_user_mode_unless_rules_restrict(make_settings: Any) -> None:
    assert (
        identify(make_settings(), {"X-Forwarded-User": "root", "X-Forwarded-Groups": "board"}, "127.0.0.1")
        is None
    )
    anonymous = identify(
        make_settings(access_rules={"hr/**": ["hr"]}), {"X-Forwarded-Groups": "hr"}, "127.0.0.1"
    )
    assert anonymous is not None and anonymous.groups == frozenset()


def test_oidc_claims(make_settings: Any) -> None:
    settings = make_settings(auth="oidc", oidc_groups_claim="roles")
    assert from_claims(settings, {"email": "a@x.org", "roles": ["hr", "board"]}) == User.of(
        "a@x.org", ["hr", "board"]
    )
    assert from_claims(settings, {"sub": "123", "roles": "hr,staff"}).groups == frozenset({"hr", "staff"})
    with pytest.raises(NotSignedIn):
        from_claims(settings, {"roles": ["hr"]})
