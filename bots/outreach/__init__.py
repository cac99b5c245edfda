"""Outreach: reminders and staged collection campaigns, planned in bulk and sent once.

Built so far: the campaign definitions (`bots.outreach.campaigns`), read from YAML and checked
at load. Planning, dispatch and the scheduler follow.
"""

from bots.outreach.campaigns import (
    DEFAULT_CAMPAIGNS,
    Campaign,
    CampaignError,
    CampaignKind,
    LoanPosition,
    Stage,
    StageAction,
    load_campaigns,
    parse_campaigns,
)

__all__ = [
    "DEFAULT_CAMPAIGNS",
    "Campaign",
    "CampaignError",
    "CampaignKind",
    "LoanPosition",
    "Stage",
    "StageAction",
    "load_campaigns",
    "parse_campaigns",
]
