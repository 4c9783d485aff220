"""HashiCorp-style version constraints (``">= 1.7, < 2"``, ``"~> 1.2"``), as
``required_version`` and ``required_plugins`` use them, and their pip form."""

from __future__ import annotations

_OPERATORS = (">=", "<=", "!=", "~>", ">", "<", "=")

#: Packer version this implementation follows; ``packer.version`` and
#: ``required_version`` use it so that Packer templates keep working.
PACKER_COMPAT_VERSION = "1.16.0"


def _release(text: str) -> tuple[int, ...]:
    """``v1.2.3-dev+meta`` -> ``(1, 2, 3)``; ValueError if it is not a version."""
    core = text.strip().lstrip("v").split("-")[0].split("+")[0]
    return tuple(int(part) for part in core.split("."))


def parse_constraint(constraint: str) -> list[tuple[str, str]]:
    """``">= 1.2, < 2"`` -> ``[(">=", "1.2"), ("<", "2")]``; a bare version means ``=``.

    Raises ValueError for something that is not a constraint."""
    parts: list[tuple[str, str]] = []
    for part in constraint.split(","):
        part = part.strip()
        if not part:
            continue
        for op in _OPERATORS:
            if part.startswith(op):
                version = part[len(op):].strip()
                break
        else:
            op, version = "=", part
        _release(version)  # validates
        parts.append((op, version.lstrip("v")))
    return parts


def satisfies(version: str, constraint: str) -> bool:
    """Whether ``version`` meets every part of ``constraint`` (ValueError if invalid)."""
    have = _release(version)
    for op, want_text in parse_constraint(constraint):
        want = _release(want_text)
        width = max(len(have), len(want))
        h = have + (0,) * (width - len(have))
        w = want + (0,) * (width - len(want))
        if op == "~>":
            # ~> 1.2 allows 1.2 up to (not including) 2.0; ~> 1.2.3 up to 1.3.0.
            upper = list(want[:-1]) if len(want) > 1 else [want[0]]
            upper[-1] += 1
            u = tuple(upper) + (0,) * (width - len(upper))
            ok = w <= h < u
        else:
            ok = {">=": h >= w, "<=": h <= w, ">": h > w, "<": h < w, "=": h == w, "!=": h != w}[op]
        if not ok:
            return False
    return True


def pip_specifier(constraint: str) -> str:
    """The PEP 440 specifier pip understands for ``constraint``:
    ``= 1.0`` -> ``==1.0``, ``~> 1.2`` -> ``~=1.2`` (same meaning), others as they are."""
    pip_ops = {"=": "==", "~>": "~="}
    specifiers = []
    for op, version in parse_constraint(constraint):
        if op == "~>" and "." not in version:
            # ~> 1 means >= 1, < 2; PEP 440's ~= needs two release parts.
            specifiers += [f">={version}", f"<{int(version) + 1}"]
            continue
        specifiers.append(f"{pip_ops.get(op, op)}{version}")
    return ",".join(specifiers)


def check_version_constraint(version: str, constraint: str) -> str:
    """Check a Go-style version constraint (">= 1.7, < 2"); return a problem or ""."""
    try:
        if not satisfies(version, constraint):
            return (f"This template requires Packer version {constraint}; Bakehouse implements Packer "
                    f"{version}. Relax required_version.")
    except (ValueError, IndexError):
        return f'"{constraint}" is not a valid version constraint (example: ">= 1.7.0").'
    return ""
