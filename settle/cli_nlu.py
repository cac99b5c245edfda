"""`settle train` and `settle nlu`: train the intent model, measure it, try it on sentences.

    settle train                      # trains and caches var/nlu/intent-model.npz
    settle nlu eval                   # per-intent P/R/F1, confusions, false-action rate
    echo "can I pay next friday" | settle nlu parse

Part of the composition root: it loads the shared encoder and the model from settings.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from dialogue import data_files, evaluate_held_out, false_actions, load_encoder, train_model
from dialogue.nlu.evaluation import FalseActionReport, LanguageReport
from dialogue.nlu.store import cached_model
from settle.settings import load_settings
from settle.wiring import build_nlu

app = typer.Typer(help="Check the intent model.", no_args_is_help=True, add_completion=False)
DataOption = Annotated[
    Path | None,
    typer.Option(help="A folder of nlu.<language>.yml files instead of the shipped data."),
]


def train(
    data: DataOption = None,
    if_stale: Annotated[
        bool, typer.Option(help="Train only when the cached model is missing or out of date.")
    ] = False,
) -> None:
    """Train the intent model on the Rasa-format data and cache it under var/."""
    settings = load_settings()
    if if_stale and cached_model(settings.nlu_model_path, data_files(data)) is not None:
        typer.echo(f"the intent model at {settings.nlu_model_path} is up to date")
        return
    started = time.perf_counter()
    run = train_model(load_encoder(), path=settings.nlu_model_path, directory=data)
    seconds = time.perf_counter() - started
    typer.echo(
        f"trained on {run.examples} examples, {len(run.model.classes)} intents in {seconds:.1f} s;"
        f" out-of-fold accuracy {run.validation_accuracy:.3f},"
        f" confidence threshold {run.model.threshold:.2f}"
    )
    typer.echo(f"model written to {settings.nlu_model_path}")


def _today() -> date:
    return datetime.now(UTC).date()


def _print_language(report: LanguageReport, confusions: int) -> None:
    typer.echo(
        f"\n== {report.language}: {report.examples} held-out examples, accuracy"
        f" {report.accuracy:.3f}, macro-F1 {report.macro_f1:.3f}"
    )
    typer.echo(f"{'intent':<24}{'precision':>10}{'recall':>8}{'f1':>8}{'n':>5}")
    for score in report.intents:
        typer.echo(
            f"{score.intent:<24}{score.precision:>10.3f}{score.recall:>8.3f}"
            f"{score.f1:>8.3f}{score.support:>5}"
        )
    if report.confusions:
        typer.echo("most confused (true -> predicted: count):")
        for truth, predicted, count in report.confusions[:confusions]:
            typer.echo(f"  {truth} -> {predicted}: {count}")


def _print_false_actions(report: FalseActionReport, offenders: int) -> None:
    typer.echo(
        f"\n== {report.language}: {report.actions} of {report.sentences} unrelated sentences"
        f" would trigger an action ({report.rate:.1%})"
    )
    for text, intent, confidence in report.offenders[:offenders]:
        typer.echo(f"  {intent} {confidence:.2f}: {text}")


@app.command("eval")
def evaluate(
    data: DataOption = None,
    confusions: Annotated[int, typer.Option(help="Confused pairs to list.")] = 10,
    offenders: Annotated[int, typer.Option(help="False actions to list.")] = 10,
) -> None:
    """Per-intent precision, recall and F1 on the held-out split, and the false-action rate."""
    settings = load_settings()
    files = data_files(data)
    if cached_model(settings.nlu_model_path, files) is None:
        train_model(load_encoder(), path=settings.nlu_model_path, directory=data)
    nlu = build_nlu(settings)
    typer.echo(f"confidence threshold {nlu.threshold:.2f}")
    for report in evaluate_held_out(nlu, files, today=_today()):
        _print_language(report, confusions)
    total = 0
    acted = 0
    for action_report in false_actions(nlu, files, today=_today()):
        _print_false_actions(action_report, offenders)
        total += action_report.sentences
        acted += action_report.actions
    if total:
        typer.echo(f"\nfalse-action rate overall: {acted} of {total} ({acted / total:.1%})")


@app.command()
def parse() -> None:
    """Read one message per line on standard input; print one JSON object per line."""
    nlu = build_nlu(load_settings())
    today = _today()
    for line in sys.stdin:
        text = line.rstrip("\n")
        if not text.strip():
            continue
        result = nlu.parse(text, today=today)
        typer.echo(json.dumps(result.as_json(), ensure_ascii=False))
