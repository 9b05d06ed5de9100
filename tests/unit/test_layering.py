"""The engine's shape, as docs/architecture.md states it: which package may import which, no
import hidden in a function, files and classes small enough to read in one sitting."""
import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "plugins", "module_utils")
PREFIX = "ansible_collections.kubedr.backup.plugins.module_utils."
MAX_FILE_LINES = 500
MAX_CLASS_LINES = 300

ALLOWED = {
    "common": set(),
    "adapter": {"common"},
    "kube": {"common"},
    "selection": {"common"},
    "storage": {"common"},
    "archive": {"common", "selection"},
    "volumes": {"common", "kube", "selection", "storage"},
    "backup": {"common", "kube", "selection", "storage", "archive", "volumes"},
    "restore": {"common", "kube", "selection", "storage", "archive", "volumes"},
    "info": {"common", "selection", "storage", "archive", "volumes"},
    "metrics": {"common", "storage", "archive", "info"},
    "diff": {"common", "kube", "selection", "storage", "archive"},
}


def engine_files():
    for folder, _dirs, files in sorted(os.walk(ROOT)):
        for name in sorted(files):
            if name.endswith(".py") and name != "__init__.py":
                path = os.path.join(folder, name)
                yield os.path.relpath(path, ROOT), path


FILES = list(engine_files())


def parse(path):
    with open(path) as f:
        source = f.read()
    return source, ast.parse(source)


def imported_modules(tree):
    """(module path under module_utils, the import node) of every kubedr import."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PREFIX):
            yield node.module[len(PREFIX):], node


def test_every_file_belongs_to_a_known_package():
    packages = set(rel.split(os.sep)[0] for rel, _path in FILES)
    assert packages == set(ALLOWED), "update ALLOWED and docs/architecture.md together"


@pytest.mark.parametrize("rel,path", FILES, ids=[rel for rel, _path in FILES])
def test_imports_follow_the_pipelines(rel, path):
    package = rel.split(os.sep)[0]
    _source, tree = parse(path)
    wrong = sorted(set(module for module, _node in imported_modules(tree)
                       if module.split(".")[0] not in ALLOWED[package] | {package}))
    assert wrong == [], "%s (package %s) may import only %s" % (rel, package, sorted(ALLOWED[package]))


@pytest.mark.parametrize("rel,path", FILES, ids=[rel for rel, _path in FILES])
def test_imports_stand_at_the_top(rel, path):
    """No project import inside a function or class. (Third-party packages that are slow to
    import, such as kubernetes for pod exec, are imported where they are needed, on purpose.)"""
    _source, tree = parse(path)
    hidden = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            hidden.extend("line %d" % inner.lineno for inner in ast.walk(node)
                          if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith(PREFIX))
    assert hidden == []


@pytest.mark.parametrize("rel,path", FILES, ids=[rel for rel, _path in FILES])
def test_files_and_classes_are_small(rel, path):
    source, tree = parse(path)
    assert len(source.splitlines()) <= MAX_FILE_LINES
    big = ["%s: %d lines" % (node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(tree)
           if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES]
    assert big == []


def test_the_rules_catch_a_violation(tmp_path):
    """The checks above can fail: a restore module importing backup, inside a function."""
    bad = ("def f():\n    from %sbackup.run import run\n    return run\n" % PREFIX)
    tree = ast.parse(bad)
    modules = [module for module, _node in imported_modules(tree)]
    assert modules == ["backup.run"]
    assert "backup" not in ALLOWED["restore"]
