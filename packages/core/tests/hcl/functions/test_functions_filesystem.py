"""Filesystem functions against a real temporary directory tree."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from bakehouse.hcl.function import FunctionContext
from bakehouse.hcl.values import SetType, to_python
from fnsupport import error_of


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for rel in ["x.txt", "a/y.txt", "a/b/z.txt", "a/b/w.md", ".hidden"]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of {rel}\n", encoding="utf-8")
    (tmp_path / "binary.bin").write_bytes(b"\xff\x00\xfe")
    return tmp_path


def test_file_reads_relative_to_base_dir(call, tree: Path) -> None:
    fctx = FunctionContext(base_dir=str(tree))
    assert call("file", "a/y.txt", fctx=fctx).as_str() == "content of a/y.txt\n"
    assert call("file", str(tree / "x.txt")).as_str() == "content of x.txt\n"
    assert "not valid UTF-8" in error_of(call, "file", "binary.bin", fctx=fctx)
    assert f"no file exists at {tree}/missing.txt" in error_of(
        call, "file", "missing.txt", fctx=fctx
    )
    assert "is a directory" in error_of(call, "file", "a", fctx=fctx)
    assert f"no file exists at {tree}/x" in error_of(call, "file", "a/../x", fctx=fctx)


def test_file_expands_home(call, tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tree))
    assert call("file", "~/x.txt").as_str() == "content of x.txt\n"
    assert call("pathexpand", "~/x").as_str() == f"{tree}/x"
    assert call("pathexpand", "/root/file").as_str() == "/root/file"
    assert "user-specific" in error_of(call, "pathexpand", "~bob/x")
    assert "failed to expand ~" in error_of(call, "file", "~bob/x")


def test_filebase64_and_fileexists(call, tree: Path) -> None:
    fctx = FunctionContext(base_dir=str(tree))
    assert base64.b64decode(call("filebase64", "binary.bin", fctx=fctx).as_str()) == b"\xff\x00\xfe"
    assert call("fileexists", "x.txt", fctx=fctx).as_bool() is True
    assert call("fileexists", "nope.txt", fctx=fctx).as_bool() is False
    assert "not a regular file" in error_of(call, "fileexists", "a", fctx=fctx)


@pytest.mark.parametrize(
    ("pattern", "want"),
    [
        ("**", [".hidden", "a/b/w.md", "a/b/z.txt", "a/y.txt", "binary.bin", "x.txt"]),
        ("**/*.txt", ["a/b/z.txt", "a/y.txt", "x.txt"]),
        ("a/*", ["a/y.txt"]),
        ("a/**/*.md", ["a/b/w.md"]),
        ("{x,a/y}.txt", ["a/y.txt", "x.txt"]),
        ("?.txt", ["x.txt"]),
        ("[a-x].txt", ["x.txt"]),
        ("[!x].txt", []),
        ("nothing*", []),
    ],
)
def test_fileset_doublestar_globs(call, tree: Path, pattern: str, want: list[str]) -> None:
    result = call("fileset", str(tree), pattern)
    assert isinstance(result.type, SetType)
    assert to_python(result) == want


def test_fileset_relative_to_base_dir(call, tree: Path) -> None:
    fctx = FunctionContext(base_dir=str(tree))
    assert to_python(call("fileset", "a", "*.txt", fctx=fctx)) == ["y.txt"]
    assert to_python(call("fileset", "missing", "*", fctx=fctx)) == []
    assert to_python(call("fileset", "a/b", "../*.txt", fctx=fctx)) == ["../y.txt"]
    assert to_python(call("fileset", "a", "b/z.txt", fctx=fctx)) == ["b/z.txt"]
    assert "syntax error" in error_of(call, "fileset", "a", "{x", fctx=fctx)


def test_path_functions(call, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert call("abspath", "foo/../bar").as_str() == f"{os.getcwd()}/bar"
    assert call("basename", "testdata/hello.txt").as_str() == "hello.txt"
    assert call("basename", "a/b/").as_str() == "b"
    assert call("basename", "/").as_str() == "/"
    assert call("basename", "").as_str() == "."
    assert call("dirname", "testdata/foo/hello.txt").as_str() == "testdata/foo"
    assert call("dirname", "hello.txt").as_str() == "."
    assert call("dirname", "/a").as_str() == "/"
    assert call("dirname", "a//b/").as_str() == "a/b"
