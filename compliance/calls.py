"""What a call may say: limited-content voicemails and the opening of an automated call.

- US-VOICEMAIL (1006.2(j)): a voicemail holds a limited-content message only: a business name
  that does not reveal debt collection, a request to reply, optionally a person's name, a
  callback number (optional greeting, date and time, times to reply). Any debt word or amount
  refuses it, as do a missing callback number and a business name with collection words.
- US-CALLER-ID (1006.14(g)): every call says who is calling (the business name).
- US-TCPA-ID (47 CFR 64.1200(b)): a prerecorded or artificial-voice call (Settle's voice is
  synthetic) opens with the business name and gives a callback number, both early: within the
  first sentence or the first ~25 words, whichever reaches further.

Each check is a pure function of the text and the caller's details. Debt words come from the
outbound screen's `debt_detail` patterns (compliance/screening/data/outbound.yaml) plus a few
more that a limited-content message must not hold either (payment, account, loan, ...).
Phone numbers are matched by their digits, so E.164, spaced, dashed and national forms (with a
trunk 0 or a 00 prefix) of one number are the same number.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from compliance.screening.lexicon import normalize, outbound_patterns

VOICEMAIL = "US-VOICEMAIL"
CALLER_ID = "US-CALLER-ID"
TCPA_ID = "US-TCPA-ID"
LANGUAGES = ("en", "zh")
# How far into an automated call the business name and callback number must come.
OPENING_WORDS = 25
# Shortest national number accepted as a callback number.
_MIN_DIGITS = 7

# Beyond debt_detail: what a limited-content message must not mention either (1006.2(j)).
_CONTENT_WORDS = re.compile(
    r"\bpay(?:s|ing|ment|ments|able)?\b|\baccounts?\b|\bloans?\b|\bcredit(?:or|ors)?\b"
    r"|\blend(?:er|ers|ing)\b|\bfinanc\w*|\brecover\w*|\breceivables?\b|\bdefault\w*"
    r"|\blegal\b|\battorneys?\b|\blaw ?suits?\b|\bcourts?\b|\bsue[sd]?\b|\bgarnish\w*"
    r"|付款|支付|缴费|账户|帐户|贷|借|偿还|归还|欠|催|债|法院|律师|起诉|信用|征信|违约|追讨|清收"
)
# Words that make a business name reveal debt collection.
_COLLECTION_NAME_WORDS = re.compile(
    r"\bcollect\w*|\bdebts?\b|\brecover\w*|\breceivables?\b|\barrears\b|\bdefault\w*"
    r"|\bcredit (?:control|management)\b|\bbailiffs?\b|\benforcement\b"
    r"|催收|收债|追债|债|追讨|清收|欠款"
)
_REPLY_REQUEST = re.compile(
    r"\b(?:call|calls|calling|phone|ring|text|reply|respond|return|contact|reach)\b"
    r"|\bget back to\b|回电|回复|致电|来电|联系|拨打|回拨|打给"
)
# Digits with the separators numbers are written with; not preceded by a digit (a word boundary
# would miss "回电4155552671": Chinese characters are word characters).
_PHONE = re.compile(r"\+?(?<!\d)\d[\d \u00a0().\-/]{5,}\d")
_CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK = re.compile(f"[{_CJK_CHARS}]")
# A word: one Chinese character, or a run of anything else up to a space or Chinese punctuation.
_TOKEN = re.compile(f"[{_CJK_CHARS}]|[^\\s{_CJK_CHARS}，。！？、；：]+")
# A sentence ends at . ! ? followed by a space or the end (not inside "555.0100"), or at 。！？.
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|[。！？]")


@dataclass(frozen=True)
class CallContentCheck:
    """The verdict on what a call or voicemail says.

    `reasons` are the rule codes broken (distinct, in order found); `problems` say what is
    wrong, one line each, for the record and for whoever wrote the text.
    """

    ok: bool
    reasons: tuple[str, ...]
    problems: tuple[str, ...]


def _language(language: str) -> str:
    tag = language.strip().lower()
    for known in LANGUAGES:
        if tag == known or tag.startswith(f"{known}-") or tag.startswith(f"{known}_"):
            return known
    raise ValueError(f"language must be one of {', '.join(LANGUAGES)} (or a regional tag)")


def _digits(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if ch.isdigit())


def _callback_digits(callback_number: str) -> str:
    digits = _digits(callback_number)
    if len(digits) < _MIN_DIGITS:
        raise ValueError(f"callback number {callback_number!r} has fewer than 7 digits")
    return digits


def same_number(a: str, b: str) -> bool:
    """Whether two written phone numbers are one number, compared by digits.

    A country code (up to 3 digits), a 00 prefix and a national trunk 0 may differ:
    "+44 20 7946 0958", "0044 20 7946 0958" and "020 7946 0958" are the same number.
    """
    da, db = (_international(_digits(n)) for n in (a, b))
    if len(da) < _MIN_DIGITS or len(db) < _MIN_DIGITS:
        return False
    if da == db:
        return True
    shorter, longer = sorted((da, db), key=len)
    national = shorter[1:] if shorter.startswith("0") else shorter  # a trunk 0 ("020 ...")
    return (
        len(national) >= _MIN_DIGITS
        and len(longer) - len(national) <= 3  # a country code of up to 3 digits
        and longer.endswith(national)
    )


def _international(digits: str) -> str:
    """Digits without a 00 international prefix ("0044 20 ..." -> "4420...")."""
    return digits[2:] if digits.startswith("00") else digits


def _number_positions(text: str, callback_digits: str) -> list[int]:
    """Where the callback number is written in `text` (start offsets).

    A run of digit groups may hold more than the number ("415 555 2671 8 am"): every run of
    consecutive groups is compared.
    """
    found = []
    for run in _PHONE.finditer(text):
        groups = list(re.finditer(r"\d+", run.group(0)))
        if any(
            same_number("".join(g.group(0) for g in groups[i:j]), callback_digits)
            for i in range(len(groups))
            for j in range(i + 1, len(groups) + 1)
        ):
            found.append(run.start())
    return found


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", normalize(text)).strip()


def _name_positions(text: str, business_name: str) -> list[int]:
    name = _squash(business_name)
    if not name:
        return []
    return [m.start() for m in re.finditer(re.escape(name), text)]


def _debt_detail_hit(normalized: str) -> str | None:
    """The first hit of the outbound screen's debt_detail patterns (amounts, debt words)."""
    debt_detail = outbound_patterns().get("debt_detail")
    hit = debt_detail.search(normalized) if debt_detail is not None else None
    return None if hit is None else hit.matched.strip()


def _debt_words(normalized: str) -> list[str]:
    hits = [_debt_detail_hit(normalized)]
    hits.extend(m.group(0).strip() for m in _CONTENT_WORDS.finditer(normalized))
    return list(dict.fromkeys(h for h in hits if h))


def collection_words_in_name(business_name: str) -> tuple[str, ...]:
    """Words in a business name that reveal debt collection ("Acme Collections", "XX催收")."""
    name = _squash(business_name)
    hits = [m.group(0) for m in _COLLECTION_NAME_WORDS.finditer(name)]
    hits.append(_debt_detail_hit(name) or "")
    return tuple(dict.fromkeys(h for h in hits if h))


def _result(found: list[tuple[tuple[str, ...], str]]) -> CallContentCheck:
    reasons = tuple(dict.fromkeys(code for codes, _ in found for code in codes))
    return CallContentCheck(not found, reasons, tuple(problem for _, problem in found))


def check_voicemail(
    text: str, language: str, *, business_name: str, callback_number: str
) -> CallContentCheck:
    """Whether `text` may be left as a voicemail (US-VOICEMAIL, US-CALLER-ID, US-TCPA-ID).

    Refused: a business name with collection words; any debt word or amount outside the
    business name; no business name (nobody said who called); no request to reply; no callback
    number. `callback_number` may be written in any form; it must have at least 7 digits.
    """
    _language(language)
    wanted = _callback_digits(callback_number)
    found: list[tuple[tuple[str, ...], str]] = []
    named = collection_words_in_name(business_name)
    if named:
        found.append(((VOICEMAIL,), f"business name reveals debt collection: {', '.join(named)}"))
    body = _squash(text)
    names = _name_positions(body, business_name)
    # The business name is judged above on its own; its words do not count twice.
    without_name = re.sub(re.escape(_squash(business_name)), " ", body) if names else body
    debt = _debt_words(without_name)
    if debt:
        found.append(((VOICEMAIL,), f"reveals the debt: {', '.join(debt)}"))
    if not names:
        found.append(((VOICEMAIL, CALLER_ID), "does not say the business name"))
    if _REPLY_REQUEST.search(without_name) is None:
        found.append(((VOICEMAIL,), "does not ask the borrower to reply"))
    if not _number_positions(body, wanted):
        found.append(((VOICEMAIL, TCPA_ID), "does not give the callback number"))
    return _result(found)


def _opening_end(text: str) -> int:
    """Where the opening ends: the first sentence or the first OPENING_WORDS words, whichever
    reaches further (a Chinese character counts as half a word)."""
    sentence = _SENTENCE_END.search(text)
    sentence_end = sentence.end() if sentence else len(text)
    words, words_end = 0.0, len(text)
    for token in _TOKEN.finditer(text):
        words += 0.5 if _CJK.fullmatch(token.group(0)) else 1
        if words >= OPENING_WORDS:
            words_end = token.end()
            break
    return max(sentence_end, words_end)


def check_call_opening(
    text: str, language: str, *, business_name: str, callback_number: str
) -> CallContentCheck:
    """Whether a prerecorded or automated call opens as it must (US-TCPA-ID, US-CALLER-ID).

    The business name and the callback number must both come in the opening: the first
    sentence or the first ~25 words (`OPENING_WORDS`), whichever reaches further.
    """
    _language(language)
    wanted = _callback_digits(callback_number)
    body = _squash(text)
    end = _opening_end(body)
    found: list[tuple[tuple[str, ...], str]] = []
    names = _name_positions(body, business_name)
    if not names:
        found.append(((TCPA_ID, CALLER_ID), "does not say the business name"))
    elif min(names) >= end:
        found.append(((TCPA_ID, CALLER_ID), "says the business name only after the opening"))
    numbers = _number_positions(body, wanted)
    if not numbers:
        found.append(((TCPA_ID,), "does not give the callback number"))
    elif min(numbers) >= end:
        found.append(((TCPA_ID,), "gives the callback number only after the opening"))
    return _result(found)


_VOICEMAIL_TEXTS = {
    "en": (
        "Hello, this is {agent} from {business}. Please call us back at {number}. Thank you.",
        "Hello, this is {business}. Please call us back at {number}. Thank you.",
    ),
    "zh": (
        "您好，我是{business}的{agent}。请回电 {number}。谢谢。",
        "您好，这里是{business}。请回电 {number}。谢谢。",
    ),
}


def voicemail_text(
    language: str, *, business_name: str, callback_number: str, agent_name: str | None = None
) -> str:
    """A limited-content voicemail in `language` (en, zh) that passes `check_voicemail` and
    `check_call_opening`: a greeting, who is calling, a request to call back and the number.

    Raises ValueError for a business name that reveals debt collection, a callback number of
    fewer than 7 digits or an empty agent name.
    """
    lang = _language(language)
    business = " ".join(business_name.split())
    if not business:
        raise ValueError("a voicemail names the business")
    named = collection_words_in_name(business)
    if named:
        raise ValueError(f"business name reveals debt collection: {', '.join(named)}")
    _callback_digits(callback_number)
    with_agent, without_agent = _VOICEMAIL_TEXTS[lang]
    number = " ".join(callback_number.split())
    if agent_name is None:
        return without_agent.format(business=business, number=number)
    agent = " ".join(agent_name.split())
    if not agent:
        raise ValueError("agent_name, when given, is not empty")
    return with_agent.format(business=business, agent=agent, number=number)
