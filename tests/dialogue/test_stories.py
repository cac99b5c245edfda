"""Conversation tests: every story in tests/dialogue/stories/*.yml, on each test database.

Each story runs against the real dialogue engine, the trained NLU, the abuse screen and a real
database (SQLite, and PostgreSQL when SETTLE_TEST_DATABASE_URL is set); see story_runner for the
format and the checks every turn gets.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy.orm import Session, sessionmaker

from compliance.screening import AbuseDetector
from dialogue import Nlu, load_encoder
from tests.dialogue.story_runner import MONEY, MemoEncoder, Story, load_stories, run_story

STORIES = load_stories()


@pytest.fixture(scope="session")
def encoder() -> MemoEncoder:
    return MemoEncoder(load_encoder())


@pytest.fixture(scope="session")
def story_nlu(nlu: Nlu, encoder: MemoEncoder) -> Nlu:
    """The trained NLU over the remembering encoder (the same vectors, computed once)."""
    return Nlu(nlu.model, encoder)


@pytest.fixture(scope="session")
def detector(encoder: MemoEncoder) -> AbuseDetector:
    """The abuse screen sharing the NLU's encoder, as settle.wiring builds it."""
    return AbuseDetector(encoder=encoder)


def test_there_are_enough_stories_in_both_languages() -> None:
    languages = Counter(story.language for story in STORIES)
    assert len(STORIES) >= 40
    assert languages["zh"] >= len(STORIES) // 3, languages


def test_story_names_are_unique() -> None:
    names = Counter(story.id for story in STORIES)
    assert [name for name, count in names.items() if count > 1] == []


@pytest.mark.parametrize("story", STORIES, ids=[story.id for story in STORIES])
def test_story(
    story: Story, sessions: sessionmaker[Session], story_nlu: Nlu, detector: AbuseDetector
) -> None:
    run_story(story, sessions=sessions, nlu=story_nlu, detector=detector)


@pytest.mark.parametrize(
    "text",
    ["You owe $533.09.", "逾期金额¥5,330.93", "US$1,200.00", "pay 500元", "150 dollars", "£20.00"],
)
def test_the_third_party_check_sees_amounts(text: str) -> None:
    assert MONEY.search(text)


@pytest.mark.parametrize(
    "text",
    [
        "please tell me your date of birth (for example March 3, 1985)",
        "2026年11月27日",
        "Now the last 4 digits of your ID number",
        "Reply with a number from 1 to 5.",
    ],
)
def test_the_third_party_check_passes_dates_and_prompts(text: str) -> None:
    assert MONEY.search(text) is None
