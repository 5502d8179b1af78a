"""Hostile config files: each one exits 2 through the CLI, before any AWS call, with a message that names the file
and the rule it breaks, and no traceback. Bombs and unbounded files are refused by a rule (asserted through its
message), never by how long they take."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

from mlops_cli.config import loader
from tests.unit.conftest import run
from tests.unit.test_config_loader import MINIMAL

ONE_MB = 1_000_000
ALIASES = "YAML anchors and aliases are not accepted in a config"


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")


def refused(capsys: pytest.CaptureFixture[str], config: Path | str, *extra: str) -> str:
    """Run `config validate` on the config; assert exit 2 and a clean message; return stderr."""
    code = run(["config", "validate", "-c", str(config), *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and "bug in mlops" not in err
    assert "invalid configuration" in err
    return err


def write(tmp_path: Path, text: str | bytes, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def billion_laughs(levels: int = 9, fan_out: int = 10) -> str:
    """Anchors whose full expansion is fan_out ** levels values (10 ** 9 by default), in a few hundred bytes."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * fan_out)}]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * fan_out)}]")
    return "tags:\n" + "".join(f"  {line}\n" for line in lines)


# --- the file itself ---------------------------------------------------------------------------------------------


def test_a_file_that_is_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, MINIMAL.encode() + "tags:\n  team: caf\xe9\n".encode("latin-1"))
    assert f"{path}:14 not UTF-8 text (byte 0xe9); save the file as UTF-8" in refused(capsys, path)


def test_a_utf16_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, MINIMAL.encode("utf-16"))
    assert f"{path}:1 the file is UTF-16 text; save it as UTF-8" in refused(capsys, path)


def test_a_directory_as_the_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert f"{tmp_path}: a directory, not a config file" in refused(capsys, tmp_path)


def test_extends_pointing_to_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "base").mkdir()
    path = write(tmp_path, "extends: base\nenvironment: test\n")
    err = refused(capsys, path)
    assert f"{tmp_path / 'base'}: a directory, not a config file (named by extends: at {path}:1)" in err


def test_dev_zero_is_refused_without_opening_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # an endless stream: reading it unbounded would fill memory; and opening some devices acts (a tape rewinds)
    opened: list[str] = []
    real_open = os.open

    def recording_open(path: str | Path, *args: int) -> int:
        opened.append(os.fspath(path))
        return real_open(path, *args)

    monkeypatch.setattr(os, "open", recording_open)
    assert "/dev/zero: a device, not a config file" in refused(capsys, "/dev/zero")
    assert "/dev/zero" not in opened


def test_extends_dev_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "extends: /dev/zero\n")
    assert f"/dev/zero: a device, not a config file (named by extends: at {path}:1)" in refused(capsys, path)


@pytest.mark.parametrize("via_extends", [False, True], ids=["config", "extends"])
def test_a_fifo_is_refused_without_waiting_for_a_writer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], via_extends: bool
) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)

    # A writer that would hand over a valid config: a loader that opened the FIFO and read it would accept it.
    # The writer waits for any reader; the one opened at the end releases it in every case, so nothing hangs.
    def writer() -> None:
        try:
            with open(fifo, "w", encoding="utf-8") as pipe:
                pipe.write(MINIMAL)
        except OSError:  # the reader had already gone
            pass

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    config = write(tmp_path, "extends: pipe.yaml\n") if via_extends else fifo
    try:
        assert f"{fifo}: a named pipe (FIFO), not a config file" in refused(capsys, config)
    finally:
        release = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        thread.join()
        os.close(release)


def test_a_file_over_one_megabyte(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # valid YAML, a valid config even: only its size is wrong
    text = MINIMAL + "# " + "x" * (ONE_MB - len(MINIMAL)) + "\n"
    path = write(tmp_path, text)
    assert f"{path}: larger than 1,000,000 bytes; a config file is at most 1 MB" in refused(capsys, path)


def test_a_huge_sparse_file_is_refused_after_reading_at_most_the_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as file:
        file.truncate(8 * 1024**3)  # 8 GiB of zeros, no disk used
    read: list[int] = []
    real_read = os.read

    def counting_read(fd: int, size: int) -> bytes:
        data = real_read(fd, size)
        read.append(len(data))
        return data

    monkeypatch.setattr(os, "read", counting_read)
    assert f"{path}: larger than 1,000,000 bytes" in refused(capsys, path)
    assert sum(read) <= ONE_MB + 1


def test_a_missing_base_file_names_who_extends_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "extends: nope.yaml\n")
    err = refused(capsys, path)
    assert f"{tmp_path / 'nope.yaml'}: no such config file (named by extends: at {path}:1)" in err


def test_an_extends_cycle_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path, "extends: b.yaml\n", "a.yaml")
    b = write(tmp_path, "extends: a.yaml\n", "b.yaml")
    err = refused(capsys, a)
    assert f"{b}:1 extends: the files extend each other in a cycle ({a} -> {b} -> {a})" in err


def test_a_file_that_extends_itself(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "extends: c.yaml\n")
    assert f"{path}:1 extends: the files extend each other in a cycle ({path} -> {path})" in refused(capsys, path)


def test_a_symlink_loop_in_extends(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    path = write(tmp_path, "extends: loop.yaml\n")
    assert "loop.yaml: cannot read (Too many levels of symbolic links)" in refused(capsys, path)


def test_a_nul_in_the_extends_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, 'extends: "base\\0.yaml"\n')
    assert "base\\u0000.yaml: not a valid file name" in refused(capsys, path)


# --- YAML that expands, recurses or hides -------------------------------------------------------------------------


def test_a_billion_laughs_is_refused_by_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, MINIMAL + billion_laughs())
    assert f"{path}:14 tags.l0: anchor &l0: {ALIASES}" in refused(capsys, path)


def test_a_recursive_alias(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, MINIMAL + "tags: &t\n  self: *t\n")
    assert f"{path}:13 tags: anchor &t: {ALIASES}" in refused(capsys, path)


def test_a_merge_key_through_an_alias(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, MINIMAL + "x: {team: ml}\ntags:\n  <<: *x\n")
    assert f"{path}:15 tags.<<: the merge key <<: {ALIASES}" in refused(capsys, path)


def test_a_second_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, MINIMAL + "---\nproject: other\n")
    assert f"{path}:13 a second YAML document ('---'); a config is a single document" in refused(capsys, path)


@pytest.mark.parametrize("style", ["block", "flow", "flow 100,000 deep"])
def test_deep_nesting(tmp_path: Path, capsys: pytest.CaptureFixture[str], style: str) -> None:
    if style == "block":
        nested = "".join(f"{'  ' * level}k{level}:\n" for level in range(1, 40)) + "  " * 40 + "k: v\n"
        path = write(tmp_path, MINIMAL + "tags:\n" + nested)
    else:
        depth = 40 if style == "flow" else 100_000
        path = write(tmp_path, MINIMAL + "tags: " + "[" * depth + "]" * depth + "\n")
    err = refused(capsys, path)
    if style == "block":
        chain = ".".join(f"k{level}" for level in range(1, 32))
        assert f"{path}:45 tags.{chain}: nested more than 32 levels deep" in err
    else:  # libyaml stops flow nesting itself past 1,000 levels, with its own message
        assert re.search(rf"{re.escape(str(path))}:13 (tags[.0]*: nested more than 32 levels deep|invalid YAML)", err)


def test_the_pure_python_parser_refuses_deep_nesting_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    monkeypatch.setattr(loader, "_Loader", yaml.SafeLoader, raising=False)  # PyYAML built without libyaml
    path = write(tmp_path, MINIMAL + "tags: " + "[" * 100_000 + "]" * 100_000 + "\n")
    err = refused(capsys, path)
    assert f"{path}:13 tags.0.0.0" in err and "nested more than 32 levels deep" in err


def test_too_many_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 300 kB, well under the size cap, but 150,000 values: building and validating them costs seconds
    path = write(tmp_path, MINIMAL + "tags: [" + "1," * 150_000 + "1]\n")
    assert "more than 20,000 keys and values (base files and --set values included)" in refused(capsys, path)


def test_too_many_values_split_across_files_and_set_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # each part is under the cap; together they are not
    write(tmp_path, MINIMAL + "tags: [" + "1," * 8_000 + "1]\n", "base.yaml")
    path = write(tmp_path, "extends: base.yaml\nx: [" + "1," * 8_000 + "1]\n")
    err = refused(capsys, path, "--set", "y=[" + "1," * 8_000 + "1]")
    assert re.search(r"--set y y\.\d+: more than 20,000 keys and values \(base files and --set values included\)", err)


@pytest.mark.parametrize(
    ("yaml_text", "kind"),
    [("on: x", "bool"), ("1: x", "int"), ("~: x", "null"), ("1.5: x", "float")],  # dates: a rule of their own
)
def test_keys_that_yaml_does_not_read_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], yaml_text: str, kind: str
) -> None:
    key = yaml_text.split(":")[0]
    path = write(tmp_path, MINIMAL + f"tags:\n  {yaml_text}\n")
    assert f"{path}:14 tags.{key}: this key is read by YAML as {kind}, not text; quote it" in refused(capsys, path)


def test_keys_that_collide_once_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 1 and true are the same Python key: one setting would silently replace the other
    path = write(tmp_path, MINIMAL + "tags:\n  1: a\n  true: b\n")
    err = refused(capsys, path)
    assert "tags.1: this key is read by YAML as int" in err and "tags.true: this key is read by YAML as bool" in err


@pytest.mark.parametrize("number", ["1" * 5000, "1" + ":1" * 5000], ids=["5000 digits", "base 60"])
def test_a_number_too_long_to_read(tmp_path: Path, capsys: pytest.CaptureFixture[str], number: str) -> None:
    path = write(tmp_path, MINIMAL + f"train:\n  hyperparameters:\n    n_estimators: {number}\n")
    err = refused(capsys, path)
    assert f"{path}:15 train.hyperparameters.n_estimators: a number longer than 100 characters" in err


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1:30", "1:30 is read by YAML as a base-60 number; quote it, or write the number"),
        ("010", "010 is read by YAML as an octal number; drop the leading zero, or quote it"),
    ],
)
def test_numbers_yaml_misreads_are_refused_not_guessed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    # YAML 1.1 would quietly make these 90 and 8: a valid config, not the one that was written
    path = write(tmp_path, MINIMAL + f"storage:\n  log_retention_days: {value}\n")
    assert f"{path}:14 storage.log_retention_days: {message}" in refused(capsys, path)
    assert run(["config", "validate", "-c", str(write(tmp_path, MINIMAL + "tags:\n  at: '1:30'\n"))]) == 0


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("2024-01-01", "a date"),
        ("2024-1-1 10:00:00", "a date and time"),
        ("2024-01-01T10:00:00.5Z", "a date and time"),
        ("2024-13-45", "a date"),  # building this date would crash
    ],
)
def test_dates_yaml_reads_are_refused_with_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, kind: str
) -> None:
    expected = f"YAML reads {value} as {kind}: quote it ('{value}')"
    text = MINIMAL.replace("project: churn", f"project: {value}")
    assert f"c.yaml:1 project: {expected}" in refused(capsys, write(tmp_path, text))
    # wherever it stands: a value of any type, a key, a --set value
    path = write(tmp_path, MINIMAL + f"storage:\n  log_retention_days: {value}\n")
    assert f"c.yaml:14 storage.log_retention_days: {expected}" in refused(capsys, path)
    path = write(tmp_path, MINIMAL + f"tags:\n  {value}: x\n")
    assert f"c.yaml:14 tags.{value}: {expected}" in refused(capsys, path)
    err = refused(capsys, write(tmp_path, MINIMAL), "--set", f"tags.made={value}")
    assert f"--set tags.made tags.made: {expected}" in err
    quoted = MINIMAL + f"tags:\n  made: '{value}'\n"
    assert run(["config", "validate", "-c", str(write(tmp_path, quoted))]) == 0


def test_a_merge_key_without_an_alias(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # without anchors a merge key only hides which value wins
    path = write(tmp_path, MINIMAL + "storage:\n  <<: {encryption: s3}\n  encryption: kms\n")
    assert f"{path}:14 storage.<<: the merge key <<: {ALIASES}" in refused(capsys, path)


@pytest.mark.parametrize(
    "tag", ["!!binary aGk=", "!!set {a: null}", "!!timestamp 2024-01-01", "!!python/name:os.system"]
)
def test_explicit_yaml_tags_beyond_plain_values(tmp_path: Path, capsys: pytest.CaptureFixture[str], tag: str) -> None:
    path = write(tmp_path, MINIMAL + f"tags:\n  team: {tag}\n")
    err = refused(capsys, path)
    assert f"{path}:14 tags.team: the YAML tag " in err and "is not accepted" in err


@pytest.mark.parametrize(
    ("escaped", "code"),
    [("\\0", "0000"), ("\\e[2J", "001B"), ("\\x7f", "007F"), ("\\x9b", "009B"), ("\\u202e", "202E")],
)
def test_control_characters_and_lone_surrogates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], escaped: str, code: str
) -> None:
    # YAML escapes make any character; none of these can be shown, used in a file name or sent to AWS
    path = write(tmp_path, MINIMAL + f'preprocess:\n  script: "prep{escaped}.py"\n')
    err = refused(capsys, path)
    assert f"{path}:14 preprocess.script: holds " in err and f"U+{code}" in err
    assert "\x1b" not in err and "\x9b" not in err


def test_a_lone_surrogate_from_a_yaml_escape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    # libyaml refuses the escape itself; the pure-Python parser makes the character, which UTF-8 cannot encode
    monkeypatch.setattr(loader, "_Loader", yaml.SafeLoader, raising=False)
    path = write(tmp_path, MINIMAL + 'preprocess:\n  script: "prep\\ud800.py"\n')
    assert f"{path}:14 preprocess.script: holds U+D800, a lone surrogate" in refused(capsys, path)


def test_a_control_character_in_a_key_is_not_echoed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, MINIMAL + 'tags:\n  "\\e]0;owned\\a": x\n')
    err = refused(capsys, path)
    assert "\x1b" not in err and "\x07" not in err
    assert "\\u001b]0;owned\\u0007" in err


# --- what the environment and --set bring -------------------------------------------------------------------------


def test_a_huge_variable_does_not_get_around_the_size_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_TEST_BIG", "x" * 200_000)
    # 200 kB used in ten fields is 2 MB of config from a 1 kB file
    text = MINIMAL + "tags:\n" + "".join(f"  t{i}: ${{MLOPS_TEST_BIG}}\n" for i in range(10))
    path = write(tmp_path, text)
    assert "environment variable MLOPS_TEST_BIG takes the config past 1,000,000 characters" in refused(capsys, path)


def test_a_variable_that_is_not_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_TEST_BYTES", os.fsdecode(b"caf\xe9"))  # how Python sees non-UTF-8 bytes in environ
    path = write(tmp_path, MINIMAL + "tags:\n  team: ${MLOPS_TEST_BYTES}\n")
    assert f"{path}:14 tags.team: holds U+DCE9, a lone surrogate" in refused(capsys, path)


def test_a_variable_with_a_control_character(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_TEST_ESC", "\x1b[31mred")
    path = write(tmp_path, MINIMAL + "tags:\n  team: ${MLOPS_TEST_ESC}\n")
    err = refused(capsys, path)
    assert f"{path}:14 tags.team: holds the control character U+001B" in err and "\x1b" not in err


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (billion_laughs().replace("tags:\n", "{") + "}", f".l0: anchor &l0: {ALIASES}"),
        ("&a [*a]", f": anchor &a: {ALIASES}"),
        ("[" * 100_000 + "]" * 100_000, ": invalid YAML"),
        (
            "[" * 40 + "]" * 40,
            ".0" * 31 + ": nested more than 31 levels deep",
        ),
        ("a\n---\nb", ": a second YAML document"),
        ("[" + "1," * 30_000 + "1]", ".#: more than 20,000 keys and values"),
        ("1" * 5000, ": a number longer than 100 characters"),
        ("!!binary aGk=", ": the YAML tag tag:yaml.org,2002:binary is not accepted"),
    ],
    ids=[
        "billion laughs",
        "recursive alias",
        "100,000 deep",
        "40 deep",
        "two documents",
        "30,000 values",
        "5000 digits",
        "binary",
    ],
)
def test_set_values_follow_the_file_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    path = write(tmp_path, MINIMAL)
    err = refused(capsys, path, "--set", f"tags={value}")
    # '#' stands for an index that depends on how many values the file already holds
    assert re.search(re.escape(f"--set tags tags{message}").replace(r"\#", r"\d+"), err), err


def test_set_key_paths_and_values_follow_the_file_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, MINIMAL)
    deep_key = ".".join(["a"] * 1000)
    assert "the key path is more than 32 levels deep" in refused(capsys, path, "--set", f"{deep_key}=1")
    err = refused(capsys, path, "--set", "tags.team=a\x1bb")
    assert "--set tags.team tags.team: holds the control character U+001B" in err
    huge = "x" * (ONE_MB + 1)
    assert "--set tags.team tags.team: the value is longer than 1,000,000 characters" in refused(
        capsys, path, "--set", f"tags.team={huge}"
    )


def test_every_refusal_is_file_line_field_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a check of the whole config names its field: the message points at that field, not at `project`
    text = MINIMAL.replace("environment: test", "environment: prod") + "deploy:\n  instance_count: 1\n"
    path = write(tmp_path, text)
    err = refused(capsys, path)
    assert f"{path}:14 deploy.instance_count: must be at least 2 in prod" in err


def test_problems_are_capped_and_clipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = MINIMAL + "".join(f"bogus{i}: 1\n" for i in range(200)) + "storage:\n  bucket: " + "A" * 5000 + "\n"
    err = refused(capsys, write(tmp_path, text))
    assert "invalid configuration (201 problems)" in err
    assert "  ... 151 more problems not shown (fix the ones above first)" in err
    assert max(len(line) for line in err.splitlines()) < 700


def test_a_long_file_name_and_key_are_clipped_with_the_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / ("d" * 200)
    folder.mkdir()
    text = MINIMAL + "tags:\n  " + "k" * 1000 + ": v\nstorage:\n  bucket: " + "A" * 5000 + "\n"
    err = refused(capsys, write(folder, text))
    assert "invalid configuration (2 problems)" in err
    assert max(len(line) for line in err.splitlines()) < 550


def test_a_file_name_with_control_characters_is_not_echoed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(capsys, tmp_path / "\x1b[2Jc.yaml")
    assert "\x1b" not in err and "\\u001b[2Jc.yaml: no such config file" in err
