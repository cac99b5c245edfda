"""Campaign definitions: the shipped strategy loads, stages match loans, bad files say where."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from bots.outreach import (
    DEFAULT_CAMPAIGNS,
    CampaignError,
    CampaignKind,
    LoanPosition,
    StageAction,
    load_campaigns,
    parse_campaigns,
)
from models import Channel


def position(**overrides: Any) -> LoanPosition:
    values: dict[str, Any] = {
        "days_past_due": 0,
        "days_to_next_due": 10,
        "balance_due": Decimal("100.00"),
    }
    return LoanPosition(**{**values, **overrides})


def test_the_shipped_strategy_loads() -> None:
    campaigns = {c.name: c for c in load_campaigns()}

    assert set(campaigns) == {"pre_due", "collections", "promises", "broken_promises"}
    collections = campaigns["collections"]
    assert collections.kind is CampaignKind.DAYS_PAST_DUE
    assert [s.name for s in collections.stages] == ["early", "middle", "late"]
    assert collections.stages[1].channels[0] is Channel.VOICE
    assert collections.stages[2].action is StageAction.HUMAN_QUEUE


@pytest.mark.parametrize(
    ("campaign", "where", "stage"),
    [
        ("pre_due", {"days_to_next_due": 3}, "three_days_before"),
        ("pre_due", {"days_to_next_due": 0}, "due_today"),
        ("pre_due", {"days_to_next_due": 2}, None),
        ("pre_due", {"days_past_due": 5, "days_to_next_due": 3}, None),
        ("collections", {"days_past_due": 1}, "early"),
        ("collections", {"days_past_due": 2}, None),
        ("collections", {"days_past_due": 4}, "early"),
        ("collections", {"days_past_due": 28}, "early"),
        ("collections", {"days_past_due": 31}, "middle"),
        ("collections", {"days_past_due": 61}, "late"),
        ("collections", {"days_past_due": 400}, "late"),
        ("collections", {"days_past_due": 1, "balance_due": Decimal("0.99")}, None),
        ("promises", {"promise_due_today": True}, "promise_day"),
        ("promises", {}, None),
        ("broken_promises", {"days_since_broken_promise": 1}, "day_after"),
        ("broken_promises", {"days_since_broken_promise": 2}, None),
    ],
)
def test_a_loan_is_in_the_stage_its_position_says(
    campaign: str, where: dict[str, Any], stage: str | None
) -> None:
    found = {c.name: c for c in load_campaigns()}[campaign].stage_for(position(**where))

    assert (found.name if found else None) == stage


def minimal(**stage: Any) -> dict[str, Any]:
    base = {
        "name": "early",
        "days_past_due": [1, 30],
        "channels": ["sms"],
        "template": "reminder_past_due",
    }
    return {"campaigns": [{"name": "c", "kind": "days_past_due", "stages": [{**base, **stage}]}]}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([], "expected a mapping with a `campaigns` list"),
        ({"campaigns": []}, "at least one campaign"),
        (minimal(channels=["email"]), "campaigns[0].stages[0].channels: 'email' is not one of"),
        (minimal(channels=["sms", "sms"]), "two of them are the channel 'sms'"),
        (minimal(days_past_due=[30, 1]), "to must be null or a whole number not below from"),
        (minimal(days_past_due=[0, 5]), "from must be a whole number from 1"),
        (minimal(every_days=0), "every_days: must be a whole number from 1"),
        (minimal(min_balance="lots"), "min_balance: must be an amount"),
        (minimal(min_balance="-1"), "min_balance: must be an amount of 0 or more"),
        (minimal(colour="red"), "unknown keys colour"),
        (minimal(action="shout"), "action: must be one of contact, human_queue"),
        (minimal(template="Reminder!"), "template: must be a name"),
        (minimal(template="no_such_message"), "no message 'no_such_message' in dialogue/responses"),
    ],
)
def test_a_bad_campaign_file_says_where_and_what(data: Any, problem: str) -> None:
    with pytest.raises(CampaignError) as raised:
        parse_campaigns(data)

    assert problem in str(raised.value)


def test_a_stage_that_hands_over_needs_no_channels() -> None:
    data = minimal()
    data["campaigns"][0]["stages"] = [
        {"name": "late", "days_past_due": [61, None], "action": "human_queue"}
    ]

    [campaign] = parse_campaigns(data)

    assert campaign.stages[0].channels == ()
    assert campaign.stages[0].template is None


def test_a_file_that_is_not_yaml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "campaigns.yaml"
    path.write_text("campaigns: [", encoding="utf-8")

    with pytest.raises(CampaignError, match="not valid YAML"):
        load_campaigns(path)


def test_the_shipped_file_round_trips_through_yaml() -> None:
    data = yaml.safe_load(DEFAULT_CAMPAIGNS.read_text(encoding="utf-8"))

    assert len(parse_campaigns(data)) == len(load_campaigns())
