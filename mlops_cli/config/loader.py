"""Load a config: YAML with line tracking, `extends:` overlays, `${VAR}` interpolation, `--set` overrides, then
validation. Every problem is collected and reported at once, each with file, line and field.

A config comes from a file someone else may have written, so reading it is bounded: only regular files, at most
1 MB, UTF-8, one YAML document, nested at most 32 levels, at most 20,000 keys and values, no anchors or aliases,
keys that are text, no numbers or dates YAML 1.1 would misread, no control characters. What breaks a rule is refused
with the rule, before anything costly is built, and before any AWS call; `${VAR}` values and `--set` values are held
to the same rules."""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlops_cli.config.masking import MASK, is_secret
from mlops_cli.config.models import Config, bounds_rule
from mlops_cli.errors import ConfigError, Problem

Location = tuple[str, int]  # (file, 1-based line; 0 for a --set override)
KeyPath = tuple[str | int, ...]

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_MAX_EXTENDS_DEPTH = 8
# A real config is a few kilobytes; the cap bounds memory and parse time (about a second) whatever the file is.
MAX_CONFIG_BYTES = 1_000_000
# The shipped configs nest 5 levels; the cap keeps every recursive step (parser, merge, validation) far from
# Python's recursion limit.
MAX_DEPTH = 32
# Keys and values together; the largest shipped config has 270. Building and validating costs some 40 us each in
# Python, so this bounds that work to about a second, where 1 MB of `[{a: 1}, ...]` would otherwise take 20 s.
MAX_NODES = 20_000
# No setting needs a longer number; longer ones are where int() refuses (4,300 digits) or goes quadratic
# (YAML 1.1's base-60 integers like 1:2:3:...).
_MAX_NUMBER_CHARS = 100
# Past this many problems the rest are consequences or repetitions; printing a million lines helps nobody.
_MAX_PROBLEMS = 50
_MAX_MESSAGE_CHARS = 500
_MAX_NAME_CHARS = 150  # of a file name or a field path, within the message's characters
# Control characters (tab and line breaks aside), unpaired surrogates and the bidirectional overrides: they cannot
# be shown, written to a file name or sent to AWS, in a message they could drive the terminal, and an override makes
# text display in another order than it reads.
_BAD_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_PLAIN_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map")}
_STR_TAG, _INT_TAG, _FLOAT_TAG, _TIMESTAMP_TAG = (
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "timestamp")
)
_LEADING_ZERO = re.compile(r"[-+]?0[0-9_]")
_DATE_START = re.compile(r"[0-9]{4}-")  # every YAML 1.1 timestamp starts so
# libyaml's parser when PyYAML was built with it (5 to 10 times faster), else the pure-Python one; same events.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class LoadedConfig:
    config: Config
    path: Path
    raw: dict[str, Any]
    locations: dict[KeyPath, Location] = field(default_factory=dict)


@dataclass
class _Document:
    data: dict[str, Any]
    locations: dict[KeyPath, Location]
    # the folder of the file that set each script path (SCRIPT_PATHS): relative paths are read from there
    folders: dict[KeyPath, Path] = field(default_factory=dict)


# A user's code, named by paths relative to the config file that declares them; a base file's paths stay relative
# to the base file, whichever overlay extends it.
SCRIPT_SETTINGS: tuple[KeyPath, ...] = (("preprocess", "script"), ("train", "script"), ("deploy", "inference"))
SCRIPT_PATH_FIELDS = ("source_dir", "requirements")
# Replaced as a whole by an overlay, never merged key by key: a dataset's schema (an overlay's columns are the
# columns), and a script setting (its paths belong together).
REPLACED_WHOLE: tuple[KeyPath, ...] = (("dataset", "columns"), *SCRIPT_SETTINGS)


@dataclass
class _Budget:
    """What one config may still hold, counted across its base files and --set values: a cap per file alone could
    be multiplied by splitting the file."""

    nodes: int = MAX_NODES


class _Refused(Exception):
    """A YAML text breaks one of the reading rules; `line` is 1-based, `field` the dotted key path (may be "")."""

    def __init__(self, line: int, field: str, message: str) -> None:
        super().__init__(message)
        self.line, self.field, self.message = line, field, message


def load_config(path: str | Path, overrides: list[str] | None = None) -> LoadedConfig:
    """Read, resolve and validate a config. Raises ConfigError (exit 2) listing every problem."""
    path = Path(path)
    problems: list[Problem] = []
    budget = _Budget()
    doc = _read_with_extends(path, problems, budget, chain=())
    if doc is None:
        raise _config_error(problems)
    _interpolate(doc, problems)
    for override in overrides or []:
        _apply_override(doc, override, problems, budget)
    _default_region_from_env(doc)
    if not problems:
        _check_text(doc, problems)
        _resolve_script_paths(doc)
    if problems:  # validating half-resolved data would only add noise
        raise _config_error(problems)
    try:
        config = Config.model_validate(doc.data)
    except ValidationError as exc:
        described = [_describe(err, doc, path) for err in exc.errors()]
        raise _config_error([problem for _, problem in sorted(described, key=lambda item: item[0])]) from None
    return LoadedConfig(config=config, path=path, raw=doc.data, locations=doc.locations)


def _config_error(problems: list[Problem]) -> ConfigError:
    return ConfigError([_clipped(problem) for problem in problems[:_MAX_PROBLEMS]], total=len(problems))


def _clipped(problem: Problem) -> Problem:
    """The problem within _MAX_MESSAGE_CHARS as a line: its file and field clipped first, the message takes the rest."""
    file = _clip(problem.file, _MAX_NAME_CHARS) if problem.file else problem.file
    field = _clip(problem.field, _MAX_NAME_CHARS) if problem.field else problem.field
    room = _MAX_MESSAGE_CHARS - len(str(Problem(file, problem.line, field, "")))
    return Problem(file, problem.line, field, _clip(problem.message, room))


def _at(location: Location, field: str | None, message: str) -> Problem:
    """A problem at a location: line 0 (a --set override) is no line."""
    return Problem(_printable(location[0]), location[1] or None, field, message)


def _read_with_extends(
    path: Path, problems: list[Problem], budget: _Budget, chain: tuple[Path, ...], named_by: str = ""
) -> _Document | None:
    doc = _read_yaml(path, problems, budget, named_by)
    if doc is None:
        return None
    _record_folders(doc, path)
    base_name = doc.data.get("extends")
    if base_name is None:
        return doc
    location = doc.locations.get(("extends",), (str(path), 1))
    where = _fmt(location)
    if not isinstance(base_name, str) or not base_name.strip():
        problems.append(_at(location, "extends", "must be the path of the base config file"))
        return None
    chain = (*chain, _absolute(path))
    base_path = _absolute(path.parent / base_name)
    if base_path in chain:
        cycle = " -> ".join(_printable(str(p)) for p in (*chain[chain.index(base_path) :], base_path))
        problems.append(_at(location, "extends", f"the files extend each other in a cycle ({cycle})"))
        return None
    if len(chain) > _MAX_EXTENDS_DEPTH:
        problems.append(_at(location, "extends", f"more than {_MAX_EXTENDS_DEPTH} levels of base files"))
        return None
    base = _read_with_extends(base_path, problems, budget, chain, named_by=f"extends: at {where}")
    if base is None:
        return None
    doc.data.pop("extends")
    base.data.pop("extends", None)
    locations = {**_without_replaced(base.locations, doc.data), **doc.locations}
    return _Document(_deep_merge(base.data, doc.data), locations, {**base.folders, **doc.folders})


def _without_replaced(locations: dict[KeyPath, Location], overlay: dict[str, Any]) -> dict[KeyPath, Location]:
    """The base's locations, less those under a setting the overlay replaces as a whole."""
    replaced = [path for path in REPLACED_WHOLE if _get(overlay, path) is not None]
    return {key: loc for key, loc in locations.items() if not any(key[: len(p)] == p and key != p for p in replaced)}


def _get(data: Any, key_path: KeyPath) -> Any:
    for part in key_path:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _absolute(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL in the name: reading will say so
        return Path(os.path.abspath(path))


def _read_yaml(path: Path, problems: list[Problem], budget: _Budget, named_by: str = "") -> _Document | None:
    name = _printable(str(path))
    text = _read_text(path, name, named_by, problems)
    if text is None:
        return None
    try:
        node, data = _parse(text, MAX_DEPTH, budget)
    except _Refused as refused:
        problems.append(Problem(name, refused.line, refused.field or None, refused.message))
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problems.append(Problem(name, line, None, f"invalid YAML: {_printable(str(exc.problem or exc.context))}"))
        return None
    except yaml.reader.ReaderError as exc:
        reason = f"invalid YAML: {exc.reason} (character 0x{exc.character:x})"
        problems.append(Problem(name, _reader_line(text, exc), None, reason))
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(name, None, None, f"invalid YAML: {_printable(str(exc))}"))
        return None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(Problem(name, 1, None, f"the file must hold a mapping of settings, not {type(data).__name__}"))
        return None
    locations: dict[KeyPath, Location] = {}
    if node is not None:
        found: list[Problem] = []
        _record_lines(node, (), name, locations, found)
        if found:  # duplicate keys (YAML would keep the last one, dropping settings) or keys that are not text
            problems.extend(found)
            return None
    return _Document(data, locations)


def _read_text(path: Path, name: str, named_by: str, problems: list[Problem]) -> str | None:
    """The file's text: a regular file of at most MAX_CONFIG_BYTES, in UTF-8. Never blocks, never reads unbounded."""
    problems_before = len(problems)
    text = _read_bytes_as_text(path, name, problems)
    if named_by and len(problems) > problems_before:  # the base file of another: say which one names it
        problems[-1] = dataclasses.replace(problems[-1], message=f"{problems[-1].message} (named by {named_by})")
    return text


def _read_bytes_as_text(path: Path, name: str, problems: list[Problem]) -> str | None:
    # The type is checked before opening, since opening a device can act (a tape rewinds, a watchdog arms), and
    # again on the open descriptor, in case the file was swapped in between. O_NONBLOCK: opening a FIFO would
    # otherwise wait for a writer forever; O_NOCTTY: a terminal never becomes this process's controlling one.
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0)
    flags |= getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            problems.append(Problem(name, None, None, f"{_file_kind(mode)}, not a config file"))
            return None
        fd = os.open(path, flags)
    except FileNotFoundError:
        problems.append(Problem(name, None, None, "no such config file"))
        return None
    except OSError as exc:
        problems.append(Problem(name, None, None, f"cannot read ({exc.strerror})"))
        return None
    except ValueError:  # a NUL character in the name
        problems.append(Problem(name, None, None, "not a valid file name"))
        return None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            problems.append(Problem(name, None, None, f"{_file_kind(mode)}, not a config file"))
            return None
        chunks, size = [], 0
        while size <= MAX_CONFIG_BYTES and (chunk := os.read(fd, MAX_CONFIG_BYTES + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        problems.append(Problem(name, None, None, f"cannot read ({exc.strerror})"))
        return None
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        problems.append(
            Problem(name, None, None, f"larger than {MAX_CONFIG_BYTES:,} bytes; a config file is at most 1 MB")
        )
        return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        problems.append(Problem(name, 1, None, "the file is UTF-16 text; save it as UTF-8"))
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problems.append(
            Problem(name, line, None, f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8")
        )
        return None


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _reader_line(text: str, exc: yaml.reader.ReaderError) -> int:
    # libyaml counts bytes of the UTF-8 text, the pure-Python reader counts characters
    if _Loader is yaml.SafeLoader:
        return text.count("\n", 0, exc.position) + 1
    return text.encode("utf-8", "surrogatepass").count(b"\n", 0, exc.position) + 1


def _parse(text: str, max_depth: int, budget: _Budget) -> tuple[yaml.Node | None, Any]:
    """Check the YAML's events against the reading rules, then build it. Raises _Refused or a yaml error."""
    _check_events(text, max_depth, budget)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _check_events(text: str, max_depth: int, budget: _Budget) -> None:
    """One pass over the parser's events (flat, cheap) before any node is built: building recurses per level and
    expands aliases, so this is where depth, aliases and extra documents must be stopped.

    Anchors and aliases are refused outright rather than given an expansion budget: the shipped configs use none,
    `extends:` is the way to share settings, an aliased value would report its errors at the anchor's line instead
    of where it is used, and an alias is how a few hundred bytes expand to a billion values ("billion laughs")."""
    loader = _Loader(text)
    # per open collection: [is a mapping, current key or index, the next node is a key]
    stack: list[list[Any]] = []
    documents = 0

    def here() -> str:
        return _dotted(tuple(entry[1] for entry in stack if entry[1] is not None))

    try:
        while (event := loader.get_event()) is not None:
            line = event.start_mark.line + 1 if event.start_mark else 1
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _Refused(line, "", "a second YAML document ('---'); a config is a single document")
            elif isinstance(event, yaml.CollectionEndEvent):
                stack.pop()
            elif isinstance(event, yaml.NodeEvent):
                if stack:
                    top = stack[-1]
                    if top[0]:
                        if top[2]:
                            top[1] = _printable(event.value) if isinstance(event, yaml.ScalarEvent) else "?"
                        top[2] = not top[2]
                    else:
                        top[1] += 1
                _check_node(loader, event, line, here)
                budget.nodes -= 1
                if budget.nodes < 0:
                    raise _Refused(line, here(), _TOO_MANY_NODES)
                if isinstance(event, yaml.CollectionStartEvent):
                    if len(stack) >= max_depth:
                        raise _Refused(line, here(), f"nested more than {max_depth} levels deep")
                    stack.append([isinstance(event, yaml.MappingStartEvent), None, True])
                    if not stack[-1][0]:
                        stack[-1][1] = -1
            elif isinstance(event, yaml.StreamEndEvent):
                break
    finally:
        loader.dispose()


def _check_node(loader: Any, event: yaml.NodeEvent, line: int, here: Any) -> None:
    if isinstance(event, yaml.AliasEvent):
        raise _Refused(line, here(), f"alias *{event.anchor}: {_NO_ANCHORS}")
    if event.anchor is not None:
        raise _Refused(line, here(), f"anchor &{event.anchor}: {_NO_ANCHORS}")
    tag = getattr(event, "tag", None)
    if tag not in (None, "!") and tag not in _PLAIN_TAGS:
        raise _Refused(line, here(), f"the YAML tag {tag} is not accepted: {_PLAIN_VALUES}")
    if not isinstance(event, yaml.ScalarEvent):
        return
    value = event.value
    if value == "<<" and tag is None and event.implicit[0]:
        raise _Refused(line, here(), f"the merge key <<: {_NO_ANCHORS}")
    if not (len(value) > _MAX_NUMBER_CHARS or ":" in value or _LEADING_ZERO.match(value) or _DATE_START.match(value)):
        return  # the usual case, decided without resolving the type
    resolved = tag if tag not in (None, "!") else loader.resolve(yaml.ScalarNode, value, event.implicit)
    if resolved == _TIMESTAMP_TAG:
        # No setting takes a date, and building one crashes on 2024-13-45. The timestamp pattern bounds the value
        # to a few dozen digits, dashes, colons and spaces, so it is shown as it is.
        kind = "a date" if len(value) == 10 else "a date and time"
        raise _Refused(line, here(), f"YAML reads {value} as {kind}: quote it ('{value}')")
    if resolved not in (_INT_TAG, _FLOAT_TAG):
        return
    if len(value) > _MAX_NUMBER_CHARS:
        raise _Refused(line, here(), f"a number longer than {_MAX_NUMBER_CHARS} characters")
    # YAML 1.1 reads these as numbers no one means: 1:30 is 90 (base 60) and 010 is 8 (octal)
    if ":" in value:
        raise _Refused(line, here(), f"{value} is read by YAML as a base-60 number; quote it, or write the number")
    if resolved == _INT_TAG:
        raise _Refused(line, here(), f"{value} is read by YAML as an octal number; drop the leading zero, or quote it")


_TOO_MANY_NODES = (
    f"more than {MAX_NODES:,} keys and values (base files and --set values included); a config holds far fewer"
)
_NO_ANCHORS = "YAML anchors and aliases are not accepted in a config (share settings with `extends:`)"
_PLAIN_VALUES = "a config holds text, numbers, booleans, null, lists and mappings"


def _record_lines(
    node: yaml.Node, prefix: KeyPath, file: str, out: dict[KeyPath, Location], found: list[Problem]
) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*prefix, str(key_node.value))
            line = key_node.start_mark.line + 1
            if key_node.tag != _STR_TAG:
                # YAML 1.1 reads `on`, `yes`, `1`, `~` as a boolean, a number, null: never what a setting means
                kind = key_node.tag.rsplit(":", 1)[-1]
                found.append(
                    Problem(file, line, _dotted(key), f"this key is read by YAML as {kind}, not text; quote it")
                )
            elif key in out:
                duplicate = f"duplicate key (first at line {out[key][1]}); merge the two"
                found.append(Problem(file, line, _dotted(key), duplicate))
            out[key] = (file, line)
            _record_lines(value_node, key, file, out, found)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            key = (*prefix, index)
            out[key] = (file, item.start_mark.line + 1)
            _record_lines(item, key, file, out, found)


def _deep_merge(base: dict[str, Any], overlay: dict[str, Any], at: KeyPath = ()) -> dict[str, Any]:
    """Mappings merge key by key, except those in REPLACED_WHOLE; anything else in the overlay replaces the base's
    value."""
    merged = dict(base)
    for key, value in overlay.items():
        here = (*at, key)
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and here not in REPLACED_WHOLE:
            merged[key] = _deep_merge(merged[key], value, here)
        else:
            merged[key] = value
    return merged


def _record_folders(doc: _Document, path: Path) -> None:
    """Remember which file's folder each script path of this file is relative to."""
    folder = _absolute(path).parent
    for setting in SCRIPT_SETTINGS:
        if isinstance(_get(doc.data, setting), dict):
            doc.folders.update({(*setting, name): folder for name in SCRIPT_PATH_FIELDS})


def _resolve_script_paths(doc: _Document) -> None:
    """Relative script paths become absolute, read from the folder of the file that set them (the working folder
    for a --set override). Done after ${VAR} substitution, so a variable may hold an absolute path."""
    for setting in SCRIPT_SETTINGS:
        spec = _get(doc.data, setting)
        if not isinstance(spec, dict):
            continue
        for name in SCRIPT_PATH_FIELDS:
            value = spec.get(name)
            if isinstance(value, str) and value.strip() and not os.path.isabs(value):
                folder = doc.folders.get((*setting, name), Path.cwd())
                spec[name] = os.path.normpath(folder / value)


def _interpolate(doc: _Document, problems: list[Problem]) -> None:
    # What the environment adds counts against the same 1 MB as the file: a variable is not a way around the cap
    # (one huge value used in every field would be).
    budget = [MAX_CONFIG_BYTES]

    def substitute(value: Any, key_path: KeyPath) -> Any:
        if isinstance(value, dict):
            return {k: substitute(v, (*key_path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [substitute(v, (*key_path, i)) for i, v in enumerate(value)]
        if not isinstance(value, str) or "$" not in value:
            return value

        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group(1), match.group(2)
            env_value = os.environ.get(name)
            if env_value is not None and (env_value != "" or default is None):
                budget[0] -= len(env_value)
                if budget[0] < 0:
                    problems.append(
                        _at(
                            _nearest(doc.locations, key_path),
                            _dotted(key_path),
                            f"environment variable {name} takes the config past {MAX_CONFIG_BYTES:,} characters "
                            "once substituted (a config is at most 1 MB)",
                        )
                    )
                    return ""
                return env_value
            if default is not None:
                return default
            unset = f"environment variable {name} is not set (use ${{{name}:-default}})"
            problems.append(_at(_nearest(doc.locations, key_path), _dotted(key_path), unset))
            return ""

        return _VAR.sub(replace, value)

    doc.data = substitute(doc.data, ())


def _apply_override(doc: _Document, override: str, problems: list[Problem], budget: _Budget) -> None:
    key, sep, raw_value = override.partition("=")
    shown = _printable(_clip(override, 100))
    shown_key = _printable(_clip(key, 100))
    parts = key.split(".")
    if not sep or not key or any(not part for part in parts):
        problems.append(Problem(f"--set {shown}", None, None, "expected key.path=value"))
        return
    if len(parts) > MAX_DEPTH:
        problems.append(Problem(f"--set {shown}", None, None, f"the key path is more than {MAX_DEPTH} levels deep"))
        return
    if len(raw_value) > MAX_CONFIG_BYTES:
        longer = f"the value is longer than {MAX_CONFIG_BYTES:,} characters"
        problems.append(Problem(f"--set {shown_key}", None, shown_key, longer))
        return
    value: Any = ""
    if raw_value:
        try:  # the value is YAML, read under the same rules as a file, counting the levels the key path uses
            value = _parse(raw_value, MAX_DEPTH - len(parts), budget)[1]
        except _Refused as refused:
            field_path = f"{shown_key}.{refused.field}" if refused.field else shown_key
            problems.append(Problem(f"--set {shown_key}", None, field_path, refused.message))
            return
        except yaml.YAMLError as exc:
            if raw_value.lstrip().startswith(("[", "{")):  # meant as a list or a mapping: say what is wrong
                reason = exc.problem if isinstance(exc, yaml.MarkedYAMLError) else None
                invalid = f"invalid YAML: {_printable(str(reason or exc))}"
                problems.append(Problem(f"--set {shown_key}", None, shown_key, invalid))
                return
            value = raw_value  # otherwise the text as given (`--set tags.note=50% off`)
    node: Any = doc.data
    for part in parts[:-1]:
        child = node.get(part) if isinstance(node, dict) else None
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            problems.append(Problem(f"--set {shown}", None, None, f"'{_printable(part)}' is not a mapping"))
            return
        node = child
    node[parts[-1]] = value
    doc.locations[tuple(parts)] = (f"--set {key}", 0)
    for folder_key in [k for k in doc.folders if k[: len(parts)] == tuple(parts)]:
        del doc.folders[folder_key]  # an override's paths are relative to the working folder


def _default_region_from_env(doc: _Document) -> None:
    aws = doc.data.get("aws")
    if isinstance(aws, dict) and not aws.get("region"):
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            aws["region"] = region


def _check_text(doc: _Document, problems: list[Problem]) -> None:
    """Every key and text value, wherever it came from (file, variable, --set), holds only printable text."""

    def check(value: Any, key_path: KeyPath) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and (bad := _BAD_TEXT.search(key)):
                    problem(key_path, f"the key '{_printable(key)}' holds {_describe_char(bad.group())}")
                check(item, (*key_path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                check(item, (*key_path, index))
        elif isinstance(value, str) and (bad := _BAD_TEXT.search(value)):
            problem(key_path, f"holds {_describe_char(bad.group())} at character {bad.start() + 1}")

    def problem(key_path: KeyPath, message: str) -> None:
        location = _nearest(doc.locations, key_path, default=("<config>", 1))
        problems.append(_at(location, _dotted(key_path), f"{message}; text may not hold control characters"))

    check(doc.data, ())


def _describe_char(char: str) -> str:
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return f"U+{code:04X}, a lone surrogate (not valid Unicode; a variable with bytes that are not UTF-8?)"
    if code >= 0x202A:
        return f"the bidirectional control U+{code:04X}"
    return f"the control character U+{code:04X}"


_BOUND_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number")


def _describe(error: Any, doc: _Document, path: Path) -> tuple[Location, Problem]:
    """The problem as `file:line field: rule`, and its location (problems are listed in file order)."""
    field_path = _field_path(tuple(error["loc"]), doc.data)
    message = error["msg"].removeprefix("Value error, ")
    if not field_path:
        # a check of the whole config names its field first ("deploy.instance_count must be ..."); any other is
        # about the names derived from the project
        named = re.match(r"([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+) (.*)", message, re.DOTALL)
        if named and named.group(1).split(".")[0] in Config.model_fields:
            field_path = tuple(named.group(1).split("."))
            message = named.group(2)
        else:
            field_path = ("project",)
    location = _nearest(doc.locations, field_path, default=(str(path), 1))
    secret = any(isinstance(part, str) and is_secret(part) for part in field_path)
    given = MASK if secret else _shown(error.get("input"))
    if error["type"] == "extra_forbidden":
        message = f"unknown setting '{field_path[-1]}' (see `mlops config schema` for the allowed keys)"
    elif error["type"] == "missing":
        message = "required setting is missing"
        if field_path == ("aws", "region"):
            message += " (set aws.region in the config, or AWS_REGION in the environment)"
    elif error["type"] in _BOUND_ERRORS:  # state the rule and why, not only the bound pydantic saw crossed
        message = bounds_rule(field_path) or (
            "must be a finite number, not NaN or infinity" if error["type"] == "finite_number" else message
        )
    elif error["type"] in ("string_pattern_mismatch",):
        message = f"{'the value' if secret else given} does not match the rule {error['ctx']['pattern']}"
    elif error["type"] in ("dict_type", "model_type", "model_attributes_type"):
        message = f"must be a mapping of settings, not {given}"
    elif message.startswith("Input should be "):  # pydantic's wording, turned into the rule the value breaks
        message = "must be " + message.removeprefix("Input should be ")
        if error["type"].endswith(("_type", "_parsing")) or error["type"] in ("literal_error", "enum"):
            message += f" (not {given})"
    if secret:
        message = _without_secret(message, error.get("input"))
    return location, _at(location, _dotted(field_path), message)


def _without_secret(message: str, value: Any) -> str:
    """A rule about a secret setting never repeats the value it was given."""
    if isinstance(value, str) and value:
        message = message.replace(repr(value), MASK).replace(value, MASK)
    return message


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return _printable(_clip(repr(value), 100))


_BRANCH = re.compile(r".*\[|function-|(int|str|float|bool|none|list|dict|literal)$|[A-Z]")


def _field_path(loc: KeyPath, data: Any) -> KeyPath:
    """pydantic puts a union's or a validator's branch name (`int`, `function-after[...]`, `Vpc`) in loc; keep the
    parts that are real keys. A name absent from the data is kept unless it looks like a branch: a setting left
    to its default is not in the data, and is still the field to name."""
    path: list[str | int] = []
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        if in_dict or (isinstance(node, list) and type(part) is int and 0 <= part < len(node)):
            node = node[part]
        elif isinstance(part, str) and _BRANCH.match(part):
            continue
        else:
            node = None
        path.append(part)
    return tuple(path)


def _nearest(locations: dict[KeyPath, Location], key_path: KeyPath, default: Location | None = None) -> Location:
    for end in range(len(key_path), 0, -1):
        if key_path[:end] in locations:
            return locations[key_path[:end]]
    return default or next(iter(locations.values()), ("<config>", 1))


def _fmt(location: Location) -> str:
    file, line = _printable(location[0]), location[1]
    return f"{file}:{line}" if line else file


def _dotted(key_path: KeyPath) -> str:
    return _printable(".".join(str(part) for part in key_path))


def _printable(text: str) -> str:
    """Text for a message: control characters and lone surrogates escaped, so a message cannot drive the terminal."""
    return _BAD_TEXT.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _clip(text: str, limit: int = _MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
