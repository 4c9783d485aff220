"""`bakehouse fmt`: rewrite HCL templates and var files in the canonical layout.

Exit codes as Packer's: 0 when everything is (now) formatted, 3 with ``-check``
when a file would change, 1 on a parse error or a bad argument.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from pathlib import Path

from bakehouse.cli.common import bool_flag
from bakehouse.hcl.diagnostics import Diagnostics
from bakehouse.hcl.formatter import format_text

FORMATTED_SUFFIXES = (".pkr.hcl", ".pkrvars.hcl")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    bool_flag(parser, "check", "check whether the input is formatted; exit 3 if not")
    bool_flag(parser, "diff", "print a unified diff of the changes")
    bool_flag(parser, "write", "write the result back to the file (default true; -write=false)", default=True)
    bool_flag(parser, "recursive", "also format subdirectories")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or directories, or - for stdin")


def _is_hidden_or_backup(name: str) -> bool:
    return name.startswith(".") or name.endswith("~") or (name.startswith("#") and name.endswith("#"))


def _collect_files(path: Path, recursive: bool) -> list[Path]:
    found: list[Path] = []
    for entry in sorted(path.iterdir()):
        if _is_hidden_or_backup(entry.name):
            continue
        if entry.is_dir():
            if recursive:
                found.extend(_collect_files(entry, recursive))
        elif entry.name.endswith(FORMATTED_SUFFIXES):
            found.append(entry)
    return found


def run(args: argparse.Namespace) -> int:
    write = bool(args.write) and not args.check

    changed_any = False
    failed = False
    for raw in args.paths:
        if raw == "-":
            source = sys.stdin.read()
            try:
                result = format_text(source, "<stdin>")
            except Diagnostics as diags:
                print(str(diags), file=sys.stderr)
                failed = True
                continue
            if result != source:
                changed_any = True
            if args.diff:
                sys.stdout.write(_diff(source, result, "<stdin>"))
            elif not args.check:
                sys.stdout.write(result)
            continue

        path = Path(raw)
        if path.is_dir():
            files = _collect_files(path, args.recursive)
        elif path.is_file():
            if not path.name.endswith(FORMATTED_SUFFIXES):
                print(f"Error: only .pkr.hcl and .pkrvars.hcl files can be formatted: {raw}", file=sys.stderr)
                failed = True
                continue
            files = [path]
        else:
            print(f"Error: no file or directory at {raw}", file=sys.stderr)
            failed = True
            continue

        for file in files:
            try:
                source = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                print(f"Error: cannot read {file}: {exc}", file=sys.stderr)
                failed = True
                continue
            try:
                result = format_text(source, str(file))
            except Diagnostics as diags:
                print(str(diags), file=sys.stderr)
                failed = True
                continue
            if result == source:
                continue
            changed_any = True
            print(str(file))
            if args.diff:
                sys.stdout.write(_diff(source, result, str(file)))
            if write:
                _write_atomically(file, result)

    if failed:
        return 1
    if args.check and changed_any:
        return 3
    return 0


def _diff(old: str, new: str, label: str) -> str:
    return "".join(difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True),
        fromfile=f"old/{label}", tofile=f"new/{label}",
    ))


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.bakehouse-fmt.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.chmod(temporary, path.stat().st_mode & 0o7777)
    os.replace(temporary, path)
