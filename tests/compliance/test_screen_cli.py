"""`settle screen`: one JSON object per input line, both directions, and `screen train`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from compliance.screening.abuse import EN_HEAD_FILE, ZH_HEAD_FILE
from settle.cli_screen import app

runner = CliRunner()


def run(args: list[str], lines: list[str]) -> list[dict[str, object]]:
    result = runner.invoke(app, args, input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_inbound_lines() -> None:
    out = run(
        ["--inbound", "--no-encoder"],
        ["STOP", "fuck off", "", "我失业了，不想活了", "This isn't my debt"],
    )
    assert [o["text"] for o in out] == [
        "STOP",
        "fuck off",
        "我失业了，不想活了",
        "This isn't my debt",
    ]
    assert set(out[0]) >= {"text", "abusive", "score", "flags", "decision", "reasons"}
    assert out[0]["flags"] == ["opt_out"]
    assert out[1]["abusive"] is True
    assert out[1]["score"] == 1.0
    assert out[2]["urgent"] is True
    assert out[2]["decision"] == "escalate"
    assert out[3]["decision"] == "hold"
    assert out[3]["holds"] == ["dispute"]


def test_outbound_lines_under_a_jurisdiction() -> None:
    lines = ["You must pay the full balance today.", "We can set up a payment plan."]
    uk = run(["--outbound", "--jurisdiction", "uk", "--no-encoder"], lines)
    assert uk[0]["decision"] == "block"
    assert uk[0]["reasons"] == ["UK-NO-PRESSURE"]
    assert uk[1]["decision"] == "allow"
    us = run(["--outbound", "--first-contact", "--no-encoder"], lines[1:])
    assert us[0]["text_to_send"].endswith("Reply STOP to opt out.")
    assert us[0]["disclosures"] == ["US-MINI-MIRANDA", "US-OPTOUT-NOTICE"]
    zh = run(["--outbound", "--lang", "zh", "--unverified", "--no-encoder"], ["您本月应还1200元。"])
    assert zh[0]["reasons"] == ["US-THIRD-PARTY"]


def test_outbound_with_the_encoder_reports_the_model() -> None:
    out = run(["--outbound"], ["Thank you, your payment of $50 was received."])
    assert out[0]["decision"] == "allow"
    assert "en-minilm-logistic" in out[0]["models"]


def test_bad_options_are_refused() -> None:
    assert runner.invoke(app, ["--no-encoder"], input="x\n").exit_code != 0
    assert runner.invoke(app, ["--inbound", "--outbound"], input="x\n").exit_code != 0
    assert runner.invoke(app, ["--inbound", "--lang", "fr"], input="x\n").exit_code != 0
    bad = runner.invoke(app, ["--outbound", "--jurisdiction", "mars"], input="x\n")
    assert bad.exit_code != 0


def test_train_writes_heads(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "davidson").mkdir(parents=True)
    (data / "cold").mkdir()
    (data / "davidson" / "labeled_data_70.csv").write_text(
        "count,hate_speech,offensive_language,neither,class,tweet\n3,0,0,3,2,hello\n"
    )
    rows = [("你这个蠢货滚开", 1), ("谢谢你的帮助", 0), ("垃圾东西滚", 1), ("今天天气很好", 0)]
    for split in ("train", "dev"):
        body = "".join(
            f"{i},{split},race,{label},{text}\n" for i, (text, label) in enumerate(rows * 5)
        )
        (data / "cold" / f"{split}.csv").write_text(",split,topic,label,TEXT\n" + body)
    out = tmp_path / "heads"
    result = runner.invoke(app, ["train", "--data", str(data), "--out", str(out), "--no-encoder"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["zh"]["held_out"]["f1"] == 1.0
    assert report["en"] is None
    assert (out / ZH_HEAD_FILE).is_file()
    assert not (out / EN_HEAD_FILE).exists()
    missing = runner.invoke(app, ["train", "--data", str(tmp_path / "nowhere"), "--no-encoder"])
    assert missing.exit_code != 0
