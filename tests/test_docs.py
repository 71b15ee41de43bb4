"""The documentation's examples run as written: README.md's, from the repository's folder
with the shared data beside it (regression: its first example used arrays it never defined,
and its command line example fitted a file that was not there), and the docstrings'."""

import doctest
import inspect
import importlib.util
import pkgutil
import re
import shlex
import textwrap
from pathlib import Path

import pytest

import sparseals
from sparseals.cli import build_parser, main

README = Path(__file__).resolve().parents[1] / "README.md"


def code_blocks(language):
    """The README's fenced blocks in ``language``, dedented (some sit in a list item)."""
    fence = re.compile(rf"^( *)```{language}\n(.*?)^\1```$", re.S | re.M)
    return [textwrap.dedent(match.group(2)) for match in fence.finditer(README.read_text())]


def command_lines():
    lines = [line for block in code_blocks("bash") for line in block.splitlines()]
    return [shlex.split(line, comments=True) for line in lines if line.startswith("sparseals ")]


@pytest.fixture
def beside_shared_data(shared_data, tmp_path, monkeypatch):
    """A working folder whose ``../shared/data`` is the shared data, as for the repository."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(shared_data, target_is_directory=True)
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")


def test_readme_has_examples():
    assert len(code_blocks("python")) >= 2
    assert len(command_lines()) >= 5


@pytest.mark.parametrize("index", range(len(code_blocks("python"))))
def test_python_example_runs(index, request, tmp_path, monkeypatch):
    code = code_blocks("python")[index]
    if "../shared/data" in code:
        request.getfixturevalue("beside_shared_data")
    else:
        monkeypatch.chdir(tmp_path)
    exec(compile(code, f"README.md python block {index + 1}", "exec"), {})


def test_command_line_example_runs(beside_shared_data, capsys):
    for argv in command_lines():
        if "--scheduler" in argv:  # needs a cluster: its options are only parsed
            build_parser().parse_args(argv[1:])
            continue
        status = main(argv[1:])
        assert status == 0, (shlex.join(argv), capsys.readouterr().err)


def modules_with_examples():
    names = [info.name for info in pkgutil.walk_packages(sparseals.__path__, "sparseals.")
             if "._kernels" not in info.name]
    return ["sparseals"] + [name for name in names
                            if ">>>" in Path(importlib.util.find_spec(name).origin).read_text()]


@pytest.mark.parametrize("name", modules_with_examples())
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


# ---------------------------------------------------------------------- numpydoc Parameters
PUBLIC_MODULES = ["sparseals", "sparseals.ratings", "sparseals.models", "sparseals.metrics",
                  "sparseals.model_selection", "sparseals.persistence", "sparseals.solvers",
                  "sparseals.datasets", "sparseals.datasets.download",
                  "sparseals.distributed"]


def documented_parameters(doc):
    """The names in a numpydoc docstring's Parameters section, in order (None: no section)."""
    lines = inspect.cleandoc(doc).splitlines()
    try:
        start = next(i for i in range(len(lines) - 1)
                     if lines[i] == "Parameters" and set(lines[i + 1]) == {"-"}) + 2
    except StopIteration:
        return None
    names = []
    for line, after in zip(lines[start:], lines[start + 1:] + [""]):
        if set(after) == {"-"} and after:  # the next section's heading
            break
        if line and not line[0].isspace():
            names += [name.strip().lstrip("*") for name in line.split(" : ")[0].split(",")]
    return names


def public_callables(module):
    """(qualified name, callable) of the module's public functions and classes, and of the
    classes' public methods."""
    names = getattr(module, "__all__", None)
    if names is None:  # what the module defines, not what it imports
        names = [name for name in dir(module)
                 if getattr(getattr(module, name), "__module__", None) == module.__name__]
    for name in names:
        obj = getattr(module, name)
        if name.startswith("_") or not callable(obj) or (
                inspect.isclass(obj) and issubclass(obj, Exception)):
            continue
        yield f"{module.__name__}.{name}", obj
        if inspect.isclass(obj):
            for method_name, method in inspect.getmembers(obj, callable):
                if (not method_name.startswith("_") and not inspect.isclass(method)
                        and getattr(method, "__module__", "").startswith("sparseals")):
                    yield f"{module.__name__}.{name}.{method_name}", method


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_docstrings_list_the_parameters(module_name):
    if module_name == "sparseals.distributed":
        pytest.importorskip("distributed")
    wrong = []
    for name, obj in public_callables(importlib.import_module(module_name)):
        parameters = [p.name for p in inspect.signature(obj).parameters.values()
                      if p.name not in ("self", "cls")]
        documented = documented_parameters(inspect.getdoc(obj) or "")
        if (documented or []) != parameters:
            wrong.append(f"{name}: signature {parameters}, Parameters {documented}")
    assert not wrong, "\n".join(wrong)
