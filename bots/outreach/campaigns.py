"""Outreach campaigns as data: who is contacted, when, on which channels, saying what.

Campaigns are written in YAML (`bots/outreach/data/default.yaml` is the shipped strategy) and
read into frozen dataclasses here, checked once at load: a bad file stops with one line naming
the place in it (`campaigns[1].stages[0].days_past_due: ...`), not with a traceback on the first
night the scheduler runs. A stage's `template` names a message of the dialogue's templates
(`dialogue/responses/<language>.yaml`), present in every language and screened like every other
message; a first reminder may reach someone else, so those messages are limited content.

Which stage a loan is in is answered by `Campaign.stage_for`, a pure function of the loan's
position (`LoanPosition`), so the planner and the tests agree on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from dialogue import languages, templates
from models import Channel

DEFAULT_CAMPAIGNS = Path(__file__).with_name("data") / "default.yaml"
# Channels outreach can start a contact on (the web chat and e-mail cannot be pushed to).
OUTREACH_CHANNELS = (Channel.SMS, Channel.WHATSAPP, Channel.VOICE, Channel.TELEGRAM)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
_MAX_DAYS = 3650


class CampaignError(ValueError):
    """A campaign file that cannot be used; the message names the place and the problem."""


class CampaignKind(StrEnum):
    """What a campaign's stages are measured from."""

    PRE_DUE = "pre_due"  # days before an installment falls due
    DAYS_PAST_DUE = "days_past_due"  # days past due and balance
    PROMISE_DAY = "promise_day"  # the day a promise to pay falls due
    BROKEN_PROMISE = "broken_promise"  # days after a promise was broken


class StageAction(StrEnum):
    CONTACT = "contact"  # a message or a call on the first channel allowed
    HUMAN_QUEUE = "human_queue"  # the account goes to the collectors' queue


@dataclass(frozen=True)
class LoanPosition:
    """Where one loan stands on a day, as the stages read it (None: does not apply)."""

    days_past_due: int
    days_to_next_due: int | None
    balance_due: Decimal
    promise_due_today: bool = False
    days_since_broken_promise: int | None = None


@dataclass(frozen=True)
class Stage:
    """One step of a campaign: the loans it applies to and what is done for them."""

    name: str
    action: StageAction
    channels: tuple[Channel, ...] = ()
    template: str | None = None
    days_before_due: int | None = None
    days_past_due: tuple[int, int | None] | None = None
    every_days: int = 1
    min_balance: Decimal = Decimal("0")
    days_after: int | None = None


@dataclass(frozen=True)
class Campaign:
    """A named sequence of stages, all measured the same way (`kind`)."""

    name: str
    kind: CampaignKind
    stages: tuple[Stage, ...]

    def stage_for(self, position: LoanPosition) -> Stage | None:
        """The first stage whose condition the loan meets today, if any."""
        for stage in self.stages:
            if _applies(self.kind, stage, position):
                return stage
        return None


def _applies(kind: CampaignKind, stage: Stage, position: LoanPosition) -> bool:
    if position.balance_due < stage.min_balance:
        return False
    if kind is CampaignKind.PRE_DUE:
        return position.days_past_due == 0 and position.days_to_next_due == stage.days_before_due
    if kind is CampaignKind.DAYS_PAST_DUE:
        assert stage.days_past_due is not None
        low, high = stage.days_past_due
        dpd = position.days_past_due
        if dpd < low or (high is not None and dpd > high):
            return False
        # Day `low` of the stage is a contact day, then every `every_days` days after it.
        return (dpd - low) % stage.every_days == 0
    if kind is CampaignKind.PROMISE_DAY:
        return position.promise_due_today
    return position.days_since_broken_promise == stage.days_after


def load_campaigns(path: Path = DEFAULT_CAMPAIGNS) -> tuple[Campaign, ...]:
    """The campaigns of a YAML file; `CampaignError` naming the first problem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CampaignError(f"{path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise CampaignError(f"{path}: not valid YAML ({exc})") from None
    try:
        return parse_campaigns(data)
    except CampaignError as exc:
        raise CampaignError(f"{path}: {exc}") from None


def parse_campaigns(data: Any) -> tuple[Campaign, ...]:
    """Campaigns from parsed YAML (a mapping with a `campaigns` list)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("campaigns"), list):
        raise CampaignError("expected a mapping with a `campaigns` list")
    unknown = set(data) - {"campaigns"}
    if unknown:
        raise CampaignError(f"unknown keys {sorted(unknown)}")
    campaigns = tuple(_campaign(raw, f"campaigns[{n}]") for n, raw in enumerate(data["campaigns"]))
    if not campaigns:
        raise CampaignError("campaigns: at least one campaign is needed")
    _unique([c.name for c in campaigns], "campaigns", "campaign")
    for n, campaign in enumerate(campaigns):
        for m, stage in enumerate(campaign.stages):
            if stage.template is not None:
                _check_template(stage.template, f"campaigns[{n}].stages[{m}].template")
    return campaigns


def _check_template(key: str, where: str) -> None:
    """Every language must have the message: a borrower is written to in their own."""
    missing = [language for language in languages() if key not in templates(language)]
    if missing:
        raise CampaignError(
            f"{where}: no message {key!r} in dialogue/responses/{', '.join(missing)}.yaml"
        )


def _campaign(raw: Any, where: str) -> Campaign:
    fields = _mapping(raw, where, required={"name", "kind", "stages"}, optional=set())
    name = _name(fields["name"], f"{where}.name")
    try:
        kind = CampaignKind(fields["kind"])
    except ValueError:
        choices = ", ".join(k.value for k in CampaignKind)
        raise CampaignError(f"{where}.kind: must be one of {choices}") from None
    stages_raw = fields["stages"]
    if not isinstance(stages_raw, list) or not stages_raw:
        raise CampaignError(f"{where}.stages: must be a non-empty list")
    stages = tuple(_stage(kind, item, f"{where}.stages[{n}]") for n, item in enumerate(stages_raw))
    _unique([s.name for s in stages], f"{where}.stages", "stage")
    return Campaign(name=name, kind=kind, stages=stages)


_STAGE_KEYS = {
    CampaignKind.PRE_DUE: ({"days_before_due"}, set()),
    CampaignKind.DAYS_PAST_DUE: ({"days_past_due"}, {"every_days", "min_balance"}),
    CampaignKind.PROMISE_DAY: (set(), set()),
    CampaignKind.BROKEN_PROMISE: ({"days_after"}, set()),
}


def _stage(kind: CampaignKind, raw: Any, where: str) -> Stage:
    required, optional = _STAGE_KEYS[kind]
    if not isinstance(raw, Mapping):
        raise CampaignError(f"{where}: expected a mapping")
    try:
        action = StageAction(raw.get("action", StageAction.CONTACT.value))
    except ValueError:
        choices = ", ".join(a.value for a in StageAction)
        raise CampaignError(f"{where}.action: must be one of {choices}") from None
    contact = action is StageAction.CONTACT
    fields = _mapping(
        raw,
        where,
        required={"name", *required, *({"channels", "template"} if contact else set())},
        optional={"action", *optional},
    )
    return Stage(
        name=_name(fields["name"], f"{where}.name"),
        action=action,
        channels=_channels(fields["channels"], f"{where}.channels") if contact else (),
        template=_name(fields["template"], f"{where}.template") if contact else None,
        days_before_due=_days(fields, "days_before_due", where, minimum=0),
        days_past_due=_range(fields["days_past_due"], f"{where}.days_past_due")
        if "days_past_due" in fields
        else None,
        every_days=_days(fields, "every_days", where, minimum=1) or 1,
        min_balance=_money(fields.get("min_balance", "0"), f"{where}.min_balance"),
        days_after=_days(fields, "days_after", where, minimum=1),
    )


def _mapping(raw: Any, where: str, *, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise CampaignError(f"{where}: expected a mapping")
    missing = sorted(required - set(raw))
    if missing:
        raise CampaignError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(raw) - required - optional)
    if unknown:
        raise CampaignError(f"{where}: unknown keys {', '.join(unknown)}")
    return dict(raw)


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value or not set(value) <= _NAME_CHARS:
        raise CampaignError(f"{where}: must be a name of a-z, 0-9 and _")
    if len(value) > 40:
        raise CampaignError(f"{where}: at most 40 characters")
    return value


def _channels(value: Any, where: str) -> tuple[Channel, ...]:
    allowed = {c.value: c for c in OUTREACH_CHANNELS}
    if not isinstance(value, list) or not value:
        raise CampaignError(f"{where}: must be a non-empty list")
    channels: list[Channel] = []
    for item in value:
        if item not in allowed:
            raise CampaignError(f"{where}: {item!r} is not one of {', '.join(allowed)}")
        channels.append(allowed[item])
    _unique([c.value for c in channels], where, "channel")
    return tuple(channels)


def _days(fields: Mapping[str, Any], key: str, where: str, *, minimum: int) -> int | None:
    if key not in fields:
        return None
    value = fields[key]
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= _MAX_DAYS:
        raise CampaignError(f"{where}.{key}: must be a whole number from {minimum} to {_MAX_DAYS}")
    return value


def _range(value: Any, where: str) -> tuple[int, int | None]:
    if not isinstance(value, list) or len(value) != 2:
        raise CampaignError(f"{where}: must be [from, to] (to may be null)")
    low, high = value
    if not isinstance(low, int) or isinstance(low, bool) or not 1 <= low <= _MAX_DAYS:
        raise CampaignError(f"{where}: from must be a whole number from 1 to {_MAX_DAYS}")
    if high is not None and (not isinstance(high, int) or isinstance(high, bool) or high < low):
        raise CampaignError(f"{where}: to must be null or a whole number not below from")
    return low, high


def _money(value: Any, where: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise CampaignError(f'{where}: must be an amount such as "1.00"') from None
    if not amount.is_finite() or amount < 0:
        raise CampaignError(f"{where}: must be an amount of 0 or more")
    return amount


def _unique(names: Sequence[str], where: str, what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise CampaignError(f"{where}: two of them are the {what} {name!r}")
        seen.add(name)
