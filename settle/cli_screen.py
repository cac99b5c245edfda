"""`settle screen`: check message phrasing against the compliance screens, and retrain the models.

    settle screen --outbound --lang en --jurisdiction uk < templates.txt
    settle screen --inbound --lang zh < replies.txt
    settle screen train --data ../shared/data

Screening reads one message per line on standard input and prints one JSON object per line:
`text`, `abusive`, `score`, `flags`, `decision`, `reasons`, plus the direction's details
(inbound: holds, cues, urgent; outbound: findings, text_to_send, disclosures). This module is
part of the composition root: it loads the sentence encoder from `dialogue` and hands it to
`compliance`, which never imports `dialogue` itself.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from compliance.screening import (
    AbuseDetector,
    Author,
    InboundScreen,
    OutboundContext,
    OutboundScreen,
    known_profiles,
    screen_inbound,
    screen_outbound,
)
from compliance.screening.training import train as train_heads
from models import Channel
from settle.settings import load_settings

app = typer.Typer(
    help="Screen messages as the compliance layer would, one per line on standard input.",
    add_completion=False,
    pretty_exceptions_enable=False,
)


def build_detector(*, use_encoder: bool) -> AbuseDetector:
    """The abuse detector, with the process's shared sentence encoder when asked for."""
    if not use_encoder:
        return AbuseDetector()
    from dialogue.encoder import load_encoder

    return AbuseDetector(encoder=load_encoder())


def inbound_record(text: str, screen: InboundScreen) -> dict[str, Any]:
    """One inbound result as the JSON object the command prints."""
    if screen.holds:
        decision = "hold"
    elif screen.needs_human:
        decision = "escalate"
    else:
        decision = "continue"
    return {
        "text": text,
        "abusive": screen.abusive,
        "score": round(screen.abuse.score, 4),
        "flags": sorted(flag.value for flag in screen.flags),
        "decision": decision,
        "reasons": [f"{m.category}: {m.matched}" for m in screen.matches],
        "holds": [hold.value for hold in screen.holds],
        "cues": [cue.value for cue in screen.cues],
        "urgent": screen.urgent,
        "models": dict(screen.abuse.model_scores),
    }


def outbound_record(text: str, screen: OutboundScreen) -> dict[str, Any]:
    """One outbound result as the JSON object the command prints."""
    return {
        "text": text,
        "abusive": screen.abuse.abusive,
        "score": round(screen.abuse.score, 4),
        "flags": sorted({f.category for f in screen.findings}),
        "decision": screen.decision.value,
        "reasons": list(screen.reasons),
        "findings": [asdict(f) for f in screen.findings],
        "text_to_send": screen.text_to_send,
        "disclosures": list(screen.disclosures),
        "models": dict(screen.abuse.model_scores),
    }


@app.callback(invoke_without_command=True)
def screen(
    ctx: typer.Context,
    inbound: Annotated[bool, typer.Option("--inbound", help="Screen borrowers' messages.")] = False,
    outbound: Annotated[
        bool, typer.Option("--outbound", help="Screen messages Settle or a collector sends.")
    ] = False,
    lang: Annotated[str, typer.Option(help="Message language: en or zh.")] = "en",
    jurisdiction: Annotated[
        str | None,
        typer.Option(help="Profile: us_reg_f, cn or uk [default: SETTLE_JURISDICTION]."),
    ] = None,
    channel: Annotated[str, typer.Option(help="Outbound channel (sms, voice, ...).")] = "sms",
    verified: Annotated[
        bool,
        typer.Option(
            "--verified/--unverified",
            help="Outbound: whether the recipient's identity is verified (debt detail allowed).",
        ),
    ] = True,
    first_contact: Annotated[
        bool, typer.Option("--first-contact", help="Outbound: the first communication.")
    ] = False,
    author: Annotated[str, typer.Option(help="Outbound: bot or collector.")] = "bot",
    encoder: Annotated[
        bool,
        typer.Option(
            "--encoder/--no-encoder",
            help="Load the sentence encoder for the English model (about 3 s).",
        ),
    ] = True,
) -> None:
    """Screen stdin, one message per line, printing one JSON object per line."""
    if ctx.invoked_subcommand is not None:
        return
    if inbound == outbound:
        raise typer.BadParameter("give exactly one of --inbound or --outbound")
    if lang not in ("en", "zh"):
        raise typer.BadParameter(f"--lang must be en or zh, not {lang!r}")
    if jurisdiction is None:
        # Settings, not the raw environment: var/settle.env counts too, and no key is needed.
        jurisdiction = load_settings().jurisdiction
    if jurisdiction not in known_profiles():
        raise typer.BadParameter(
            f"--jurisdiction must be one of {', '.join(known_profiles())}, not {jurisdiction!r}"
        )
    try:
        context = OutboundContext(
            profile=jurisdiction,
            channel=Channel(channel),
            first_contact=first_contact,
            party_verified=verified,
            author=Author(author),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    detector = build_detector(use_encoder=encoder)
    for raw in sys.stdin:
        text = raw.rstrip("\r\n")
        if not text.strip():
            continue
        if inbound:
            record = inbound_record(text, screen_inbound(text, lang, detector=detector))
        else:
            record = outbound_record(text, screen_outbound(text, lang, context, detector=detector))
        typer.echo(json.dumps(record, ensure_ascii=False))


@app.command()
def train(
    data: Annotated[
        Path, typer.Option(help="The shared data directory holding davidson/ and cold/.")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Where to write the heads (default: the package's).")
    ] = None,
    encoder: Annotated[
        bool,
        typer.Option("--encoder/--no-encoder", help="Also retrain the English encoder head."),
    ] = True,
) -> None:
    """Retrain the abuse-model heads from the public data sets and print held-out figures."""
    for needed in ("davidson/labeled_data_70.csv", "cold/train.csv", "cold/dev.csv"):
        if not (data / needed).is_file():
            raise typer.BadParameter(f"{data / needed} not found", param_hint="--data")
    text_encoder = None
    if encoder:
        from dialogue.encoder import load_encoder

        text_encoder = load_encoder()
    report = train_heads(data, encoder=text_encoder, out_dir=out)
    typer.echo(json.dumps(asdict(report), indent=2, ensure_ascii=False))
