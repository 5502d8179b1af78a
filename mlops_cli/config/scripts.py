"""The team's own scripts: `preprocess.script`, `train.script` and `deploy.inference` name an entry point in a
source folder (and a requirements file), which run under SageMaker's contracts instead of the shipped scripts.

Everything here is checked when the config loads, before any AWS call: the files exist, the entry point is inside
its folder, the bundle is not too large, every .py file parses for the Python of the image that will run it, and an
inference module defines the handler functions the scikit-learn serving container calls. Only the syntax tree is
read: the team's code is never imported or run by the tool."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_BUNDLE_BYTES = 100 * 1024 * 1024  # the code is uploaded and unpacked by every job; data belongs in S3
REQUIREMENTS = "requirements.txt"  # where a bundle carries its requirements, whatever the file was called
SCHEMA = "schema.json"  # the tool writes it into every bundle from the config's dataset
RUNPROC = "runproc.sh"  # the processing wrapper that installs requirements first
REQUIRED_HANDLERS = ("model_fn",)  # the scikit-learn serving container has no default for it
OPTIONAL_HANDLERS = ("input_fn", "predict_fn", "output_fn")  # each has a default; a module's own must be a function


class ScriptSpec(BaseModel):
    """Your own script: `entry_point` in `source_dir`, with the packages `requirements` lists."""

    model_config = ConfigDict(extra="forbid")

    entry_point: str = Field(description="The script to run, a .py file relative to source_dir (train.py).")
    source_dir: str = Field(description="The folder uploaded with it (relative to the config file that names it).")
    requirements: str | None = Field(
        None,
        description="A pip requirements file (relative to the config file); installed before the script runs. "
        "Default: source_dir/requirements.txt when there is one.",
    )

    @property
    def folder(self) -> Path:
        return Path(self.source_dir).expanduser().absolute()

    @property
    def requirements_file(self) -> Path | None:
        """The requirements the bundle carries as requirements.txt: the named file, else the folder's own."""
        if self.requirements:
            return Path(self.requirements).expanduser().absolute()
        own = self.folder / REQUIREMENTS
        return own if own.is_file() else None

    def files(self) -> dict[str, Path]:
        """The folder's files by their relative (POSIX) names, without hidden files and folders, __pycache__ and
        compiled *.pyc: what the bundle holds of it."""
        found: dict[str, Path] = {}
        for root, folders, names in os.walk(self.folder):
            folders[:] = sorted(f for f in folders if not _left_out(f))
            for name in sorted(names):
                if not _left_out(name) and not name.endswith(".pyc"):
                    path = Path(root, name)
                    found[path.relative_to(self.folder).as_posix()] = path
        return found

    @model_validator(mode="after")
    def _files_exist(self) -> ScriptSpec:
        if problems := layout_problems(self):
            raise ValueError("; ".join(problems))
        return self


def _left_out(name: str) -> bool:
    return name.startswith(".") or name == "__pycache__"


def layout_problems(spec: ScriptSpec) -> list[str]:
    """What is wrong with the files `spec` names (empty when nothing is)."""
    entry = PurePosixPath(spec.entry_point)
    if not spec.entry_point.strip() or entry.is_absolute() or "\\" in spec.entry_point or ".." in entry.parts:
        return [f"entry_point '{spec.entry_point}' must be a file name inside source_dir (no '..', not absolute)"]
    if entry.suffix != ".py":
        return [f"entry_point '{spec.entry_point}' must be a Python file (.py): SageMaker runs it with python"]
    if any(_left_out(part) for part in entry.parts):
        return [f"entry_point '{spec.entry_point}' is hidden or in __pycache__, which the code bundle leaves out"]
    if not spec.source_dir.strip():
        return ["source_dir must name the folder that holds the entry point"]
    folder = spec.folder
    if not folder.is_dir():
        return [f"source_dir {folder} is not a folder" if folder.exists() else f"source_dir {folder} does not exist"]
    problems = []
    if not (folder / entry).is_file():
        problems.append(f"entry_point {spec.entry_point} is not a file in source_dir {folder}")
    if spec.requirements and not Path(spec.requirements).expanduser().absolute().is_file():
        problems.append(f"requirements {Path(spec.requirements).expanduser().absolute()} is not a file")
    if (folder / SCHEMA).exists():
        problems.append(
            f"source_dir {folder} has its own {SCHEMA}: mlops writes {SCHEMA} into the bundle from the config's "
            "dataset (rename yours)"
        )
    return problems + _size_problems(spec)


def _size_problems(spec: ScriptSpec) -> list[str]:
    """The bundle's files must be readable and, together, within MAX_BUNDLE_BYTES."""
    size = 0
    for name, path in spec.files().items():
        try:
            size += path.stat().st_size
            readable = os.access(path, os.R_OK)
        except OSError as exc:  # a dangling link
            return [f"source_dir {spec.folder}: {name} cannot be read ({exc.strerror})"]
        if not readable:
            return [f"source_dir {spec.folder}: {name} cannot be read (no read permission)"]
    if size > MAX_BUNDLE_BYTES:
        return [
            f"source_dir {spec.folder} holds {size / 1024 / 1024:.1f} MB of files; a code bundle takes at most "
            f"{MAX_BUNDLE_BYTES // 1024 // 1024} MB (keep data and models in S3, not next to the code)"
        ]
    return []


def code_problems(spec: ScriptSpec, python: tuple[int, int], image: str, *, handler: bool = False) -> list[str]:
    """Every .py file in the folder parses for the image's Python; a handler module defines model_fn, and
    input_fn/predict_fn/output_fn are functions where it defines them. Messages say `file:line` and the rule."""
    problems: list[str] = []
    version = f"Python {python[0]}.{python[1]} (scikit-learn image {image})"
    # this interpreter's parser knows no syntax newer than itself: for a newer image, code it cannot parse may
    # well be valid there, so only what it does parse is judged (the handler functions)
    newer = python > sys.version_info[:2]
    trees: dict[str, ast.Module] = {}
    for name, path in spec.files().items():
        if not name.endswith(".py"):
            continue
        try:
            trees[name] = ast.parse(path.read_bytes(), filename=name, feature_version=python)
        except SyntaxError as exc:
            if not newer:
                problems.append(f"{name}:{exc.lineno or 1}: {exc.msg}: not valid syntax for {version}")
        except (ValueError, OSError) as exc:  # a NUL byte, an unreadable file
            problems.append(f"{name}: cannot be read as Python source ({exc})")
    entry = PurePosixPath(spec.entry_point).as_posix()
    if handler and entry in trees:
        problems += handler_problems(entry, trees[entry])
    return problems


def handler_problems(name: str, tree: ast.Module) -> list[str]:
    """The serving container imports the module and calls model_fn (and the others it finds) by name."""
    bound: dict[str, ast.stmt] = {}
    for node in tree.body:  # the last top-level binding of a name is the one the container finds
        for handler in (*REQUIRED_HANDLERS, *OPTIONAL_HANDLERS):
            if _binds(node, handler):
                bound[handler] = node
    problems = [
        f"{name}: defines no {handler}(model_dir), which the scikit-learn serving container calls to load the model"
        for handler in REQUIRED_HANDLERS
        if handler not in bound
    ]
    for handler, node in bound.items():
        if isinstance(node, ast.AsyncFunctionDef):
            problems.append(f"{name}:{node.lineno}: {handler} is async; the serving container calls it as a function")
        elif (what := _not_a_function(node)) is not None:
            problems.append(
                f"{name}:{node.lineno}: {handler} is {what}, not a function; the serving container calls it"
            )
    return problems


def _binds(node: ast.stmt, name: str) -> bool:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name == name
    if isinstance(node, ast.Import | ast.ImportFrom):
        return any((alias.asname or alias.name.split(".")[0]) == name for alias in node.names)
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    if isinstance(node, ast.AnnAssign | ast.AugAssign):
        return isinstance(node.target, ast.Name) and node.target.id == name
    return False


def _not_a_function(node: ast.stmt) -> str | None:
    """What `node` binds when the syntax alone shows it is no function (a class, a literal); None otherwise: a def,
    an import or a value computed at run time (`predict_fn = make_predictor()`) may well be one."""
    if isinstance(node, ast.ClassDef):
        return "a class"
    value = getattr(node, "value", None)
    if isinstance(value, ast.Constant | ast.List | ast.Dict | ast.Tuple | ast.Set):
        shown = repr(value.value) if isinstance(value, ast.Constant) else type(value).__name__.lower()
        return f"bound to {shown}"
    return None
