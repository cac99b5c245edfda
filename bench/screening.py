"""Latency per message of screen_inbound and screen_outbound, without and with the encoder.

The messages are our own collections lines (tests/compliance/data): English and Chinese,
borrower replies for the inbound screen, collector lines for the outbound one. Each message is
screened one at a time, as a conversation turn does; median and p99 are over every call. The
baseline, measured in the same run over the same messages, is one compiled regular-expression
search per message (a five-word alternation): the floor any text screen pays.

    .venv/bin/python bench/screening.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from compliance.screening import AbuseDetector, OutboundContext, screen_inbound, screen_outbound
from dialogue.encoder import load_encoder

DATA = Path(__file__).resolve().parents[1] / "tests" / "compliance" / "data"
BASELINE = re.compile(r"\b(?:stop|lawyer|bankrupt|debt|kill)\b|退订|律师")


def inbound_messages() -> list[tuple[str, str]]:
    messages = []
    for language in ("en", "zh"):
        for line in (DATA / f"abuse_{language}.tsv").read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                messages.append((line.split("\t", 1)[1], language))
    return messages


def outbound_messages() -> list[tuple[str, str, OutboundContext]]:
    cases = yaml.safe_load((DATA / "outbound_cases.yaml").read_text(encoding="utf-8"))
    return [
        (
            case["text"],
            case["lang"],
            OutboundContext(
                profile=case.get("profile", "us_reg_f"),
                party_verified=case.get("verified", True),
            ),
        )
        for kind in ("block", "allow")
        for case in cases[kind]
    ]


def per_call(calls: Sequence[Callable[[], object]], rounds: int) -> list[float]:
    """Seconds per call, every call timed on its own, after one warm-up pass."""
    for call in calls:
        call()
    timings = []
    for _ in range(rounds):
        for call in calls:
            start = time.perf_counter()
            call()
            timings.append(time.perf_counter() - start)
    return timings


def inbound_calls(
    messages: list[tuple[str, str]], detector: AbuseDetector
) -> list[Callable[[], object]]:
    return [
        lambda t=text, lang=lang: screen_inbound(t, lang, detector=detector)
        for text, lang in messages
    ]


def outbound_calls(
    messages: list[tuple[str, str, OutboundContext]], detector: AbuseDetector
) -> list[Callable[[], object]]:
    return [
        lambda t=text, lang=lang, c=ctx: screen_outbound(t, lang, c, detector=detector)
        for text, lang, ctx in messages
    ]


def summary(timings: list[float]) -> tuple[float, float]:
    ordered = sorted(timings)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1e3, p99 * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    inbound = inbound_messages()
    outbound = outbound_messages()

    baseline = per_call(
        [lambda t=text: BASELINE.search(t) for text, _ in inbound]
        + [lambda t=text: BASELINE.search(t) for text, _, _ in outbound],
        args.rounds,
    )
    base_median, base_p99 = summary(baseline)
    print(f"{len(inbound)} inbound and {len(outbound)} outbound messages, {args.rounds} rounds")
    print(
        f"baseline (one regex search): median {base_median * 1e3:.1f} us, "
        f"p99 {base_p99 * 1e3:.1f} us\n"
    )
    print("| screen | mode | median ms | p99 ms | median / baseline | p99 / baseline |")
    print("|---|---|---|---|---|---|")
    start = time.perf_counter()
    encoder = load_encoder()
    load_seconds = time.perf_counter() - start
    for mode, detector in (
        ("no encoder", AbuseDetector()),
        ("encoder", AbuseDetector(encoder=encoder)),
    ):
        for name, calls in (
            ("screen_inbound", inbound_calls(inbound, detector)),
            ("screen_outbound", outbound_calls(outbound, detector)),
        ):
            median, p99 = summary(per_call(calls, args.rounds))
            print(
                f"| {name} | {mode} | {median:.3f} | {p99:.3f} | "
                f"{median / base_median:.0f}x | {p99 / base_p99:.0f}x |"
            )
    print(f"\nencoder load: {load_seconds:.1f} s")


if __name__ == "__main__":
    main()
