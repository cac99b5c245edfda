"""What a borrower in or near arrears must be offered, and when a person takes over.

- UK-FORBEARANCE (CONC 7.3.4R, 7.3.5G): a borrower in arrears (`days_past_due > 0`) or near them
  (a stated difficulty) is offered forbearance: more time, reduced or suspended interest and
  charges, a repayment plan, token payments, and a pointer to free debt advice.
- UK-VULNERABLE (CONC 7.2, FG21/1): a vulnerable borrower is routed to a human, with the
  forbearance options.
- Under us_reg_f and cn no forbearance is required; a vulnerable borrower (distress, self-harm)
  still goes to a human (ALL-ABUSE-INBOUND).

The duties are data: the `forbearance` section of each profile YAML (compliance/profiles/),
read by `compliance.profiles`. `required_forbearance` is a pure function of the profile and the
borrower's state; the dialogue decides how to word the offer (`debt_advice_text` gives the
pointer to free debt advice in the borrower's language).
"""

from __future__ import annotations

from dataclasses import dataclass

from compliance.profiles import load_profile

# Free, impartial debt advice in the UK (the government-backed MoneyHelper service).
_DEBT_ADVICE = {
    "en": (
        "Free, confidential debt advice is available from MoneyHelper: call 0800 138 7777 or "
        "visit moneyhelper.org.uk."
    ),
    "zh": (
        "您可以向MoneyHelper获取免费、保密的债务咨询：请致电 0800 138 7777 或访问 "
        "moneyhelper.org.uk。"
    ),
}


@dataclass(frozen=True)
class ForbearanceDuty:
    """What must be offered (`options`, in the profile's order), whether a person takes over,
    and the codes of the rules that require it (`reasons`). Empty when nothing is required."""

    options: tuple[str, ...]
    route_to_human: bool
    reasons: tuple[str, ...]

    @property
    def required(self) -> bool:
        """Whether anything at all must be done."""
        return bool(self.options) or self.route_to_human


def required_forbearance(
    profile_name: str,
    *,
    days_past_due: int,
    vulnerable: bool,
    stated_difficulty: bool = False,
) -> ForbearanceDuty:
    """The forbearance owed under profile `profile_name` (us_reg_f, uk, cn).

    `days_past_due` counts days since the oldest unpaid installment fell due (0 when current);
    `stated_difficulty` is the borrower saying they will struggle to pay (near arrears);
    `vulnerable` is a sign of vulnerability (health, life events, resilience, capability,
    distress). Raises ProfileError for an unknown profile and ValueError for negative days.
    """
    if isinstance(days_past_due, bool) or not isinstance(days_past_due, int) or days_past_due < 0:
        raise ValueError(f"days_past_due must be a whole number >= 0, got {days_past_due!r}")
    rule = load_profile(profile_name).forbearance
    in_or_near_arrears = days_past_due > 0 or stated_difficulty
    offer = rule.enabled and (in_or_near_arrears or vulnerable)
    route = rule.route_vulnerable and vulnerable
    reasons: list[str] = []
    if rule.enabled and in_or_near_arrears:
        reasons.append(rule.code)
    if route:
        reasons.append(rule.vulnerable_code)
    return ForbearanceDuty(
        options=rule.options if offer else (),
        route_to_human=route,
        reasons=tuple(dict.fromkeys(reasons)),
    )


def debt_advice_text(language: str) -> str:
    """A pointer to free debt advice (MoneyHelper) in `language` (en, zh or a regional tag)."""
    tag = language.strip().lower()
    for lang, text in _DEBT_ADVICE.items():
        if tag == lang or tag.startswith((f"{lang}-", f"{lang}_")):
            return text
    raise ValueError(f"language must be one of {', '.join(_DEBT_ADVICE)} (or a regional tag)")
