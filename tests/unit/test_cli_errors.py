"""Invalid configs exit 2, name file, line and field, and make no AWS call (nor start the emulator)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.conftest import run
from tests.unit.test_config_loader import MINIMAL

BROKEN = {
    "unknown key": (MINIMAL + "storage:\n  encryptoin: kms\n", "c.yaml:15 storage.encryptoin: unknown setting"),
    "wrong type": (MINIMAL + "storage:\n  access_logging: maybe\n", "c.yaml:15 storage.access_logging:"),
    "invalid bucket": (MINIMAL + "storage:\n  bucket: Data_Bucket\n", "c.yaml:15 storage.bucket: bucket name"),
    "missing region": (MINIMAL.replace("  region: eu-west-1\n", "  profile: p\n"), "c.yaml:3 aws.region: required"),
    "unset variable": (MINIMAL + "tags:\n  team: ${MLOPS_UNSET_VAR}\n", "c.yaml:15 tags.team: environment variable"),
    "bad yaml": (MINIMAL + "storage: [unclosed\n", "invalid YAML"),
}


@pytest.fixture(autouse=True)
def no_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("MLOPS_UNSET_VAR", raising=False)


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_invalid_config_exits_2_before_any_aws_call(
    case: str, tmp_path: Path, aws_calls: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    text, expected = BROKEN[case]
    path = tmp_path / "c.yaml"
    path.write_text(text.replace("region: eu-west-1", "region: eu-west-1\n  endpoint_url: local"))
    for command in (["storage", "init"], ["storage", "upload", str(tmp_path)], ["config", "validate"]):
        assert run([*command, "-c", str(path)]) == 2
        assert expected in capsys.readouterr().err
    assert aws_calls == []


def test_json_error_on_stdout(tmp_path: Path, aws_calls: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(BROKEN["unknown key"][0])
    assert run(["storage", "status", "--json", "-c", str(path)]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["exit_code"] == 2 and error["type"] == "ConfigError"


def test_json_error_lists_each_config_problem_with_its_place(
    tmp_path: Path, aws_calls: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(MINIMAL + "storage:\n  encryptoin: kms\n  access_logging: maybe\n")
    assert run(["storage", "status", "--json", "-c", str(path)]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert [(p["file"], p["line"], p["field"]) for p in error["problems"]] == [
        (str(path), 14, "storage.encryptoin"),
        (str(path), 15, "storage.access_logging"),
    ]
    assert error["problems"][0]["message"].startswith("unknown setting 'encryptoin'")
    assert error["problems"][1]["message"].startswith("must be a valid boolean")
    assert error["problem_count"] == 2
    # a problem of the file as a whole has no field; one of an override is placed at the override
    assert run(["config", "validate", "--json", "-c", str(tmp_path / "absent.yaml")]) == 2
    [problem] = json.loads(capsys.readouterr().out)["error"]["problems"]
    assert problem == {
        "file": str(tmp_path / "absent.yaml"),
        "line": None,
        "field": None,
        "message": "no such config file",
    }
    assert run(["config", "validate", "--json", "-c", str(path), "--set", "tags.team=[1"]) == 2
    [problem] = json.loads(capsys.readouterr().out)["error"]["problems"]
    assert (problem["file"], problem["line"], problem["field"]) == ("--set tags.team", None, "tags.team")
    assert problem["message"].startswith("invalid YAML")
    assert aws_calls == []


def test_json_error_lists_the_problems_shown_and_counts_them_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(MINIMAL + "".join(f"bogus{i}: 1\n" for i in range(60)))
    assert run(["config", "validate", "--json", "-c", str(path)]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["problem_count"] == 60
    assert [p["field"] for p in error["problems"]] == [f"bogus{i}" for i in range(50)]


def test_no_config_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MLOPS_CONFIG", raising=False)
    assert run(["storage", "status"]) == 2
    assert "--config" in capsys.readouterr().err


def test_options_before_and_after_the_command_agree(capsys: pytest.CaptureFixture[str]) -> None:
    config = str(Path(__file__).resolve().parents[2] / "configs" / "local.yaml")
    assert run(["--json", "-c", config, "config", "validate"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert run(["config", "validate", "--json", "-c", config]) == 0
    assert json.loads(capsys.readouterr().out) == before


def test_unknown_command_and_option_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["storage", "bogus"]) == 2
    assert run(["storage", "init", "--bogus"]) == 2


# One command per group, and the first function it calls that can take time: Ctrl-C lands there.
INTERRUPTIBLE = {
    "config": (["config", "validate"], "mlops_cli.config.loader.load_config"),
    "local": (["local", "status"], "mlops_cli.emulator.manager.status"),
    "storage": (["storage", "status"], "mlops_cli.services.storage.stack.storage_status"),
    "preprocess": (["preprocess", "list"], "mlops_cli.services.jobs.list_jobs"),
    "train": (["train", "status", "job-1"], "mlops_cli.services.jobs.describe_any"),
    "register": (["register", "list"], "mlops_cli.services.experiments.record_pending"),
    "deploy": (["deploy", "status"], "mlops_cli.services.deploy.status"),
    "gateway": (["gateway", "status"], "mlops_cli.services.gateway.status"),
    "lb": (["lb", "status"], "mlops_cli.services.lb.status"),
    "pipeline": (["pipeline", "run"], "mlops_cli.services.pipeline.select_stages"),
}


@pytest.mark.parametrize("json_mode", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("group", sorted(INTERRUPTIBLE))
def test_ctrl_c_exits_130_with_a_message_in_every_group(
    group: str, json_mode: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args, target = INTERRUPTIBLE[group]

    def interrupt(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(target, interrupt)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    config = str(Path(__file__).resolve().parents[2] / "configs" / "local.yaml")
    # no emulator: the clients are made for AWS, and the interrupted call is the first that would reach it
    options = ["-c", config, "--set", "aws.endpoint_url=", *(["--json"] if json_mode else [])]
    assert run([*args, *options]) == 130
    captured = capsys.readouterr()
    assert "Interrupted" in captured.err and "continues where it stopped" in captured.err
    if json_mode:
        error = json.loads(captured.out)["error"]
        assert error["exit_code"] == 130 and error["type"] == "Interrupted"
    else:
        assert captured.out == ""


def test_ctrl_c_at_a_prompt_is_an_interruption(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import typer

    def abort(*_: object, **__: object) -> None:
        raise typer.Abort  # what typer.confirm raises on Ctrl-C

    monkeypatch.setattr("mlops_cli.emulator.manager.status", abort)
    assert run(["local", "status", "--json"]) == 130
    assert json.loads(capsys.readouterr().out)["error"]["type"] == "Interrupted"


def test_an_untranslated_aws_error_still_gets_its_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from botocore.parsers import ResponseParserError

    def fail(*_: object, **__: object) -> None:
        raise ResponseParserError("Unable to parse response, invalid XML received: b'Service Unavailable'")

    monkeypatch.setattr("mlops_cli.emulator.manager.status", fail)
    assert run(["local", "status", "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"]["type"] == "AwsUnreachable"
    assert "bug in mlops" not in captured.err and "could not be read" in captured.err


def test_a_commands_outage_notices_end_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_cli.aws import errors

    def status() -> None:  # a command whose waits report outages to its own output
        errors.report_outages_to(lambda down, error: None)

    monkeypatch.setattr("mlops_cli.emulator.manager.status", status)
    run(["local", "status"])
    assert errors._outage_listener == []
