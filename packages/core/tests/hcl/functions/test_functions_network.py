"""CIDR functions (examples from Packer's and Terraform's documentation)."""

from __future__ import annotations

import pytest
from bakehouse.hcl.values import to_python
from fnsupport import error_of


@pytest.mark.parametrize(
    ("name", "args", "want"),
    [
        ("cidrhost", ["10.12.112.0/20", 16], "10.12.112.16"),
        ("cidrhost", ["10.12.112.0/20", 268], "10.12.113.12"),
        ("cidrhost", ["10.12.112.0/20", -1], "10.12.127.255"),
        ("cidrhost", ["fd00:fd12:3456:7890:00a2::/72", 34], "fd00:fd12:3456:7890::22"),
        ("cidrhost", ["::ffff:10.0.0.0/104", 3], "10.0.0.3"),
        ("cidrhost", ["10.0.0.7/24", 1], "10.0.0.1"),
        ("cidrnetmask", ["172.16.0.0/12"], "255.240.0.0"),
        ("cidrnetmask", ["1::/64"], "ffff:ffff:ffff:ffff::"),
        ("cidrsubnet", ["172.16.0.0/12", 4, 2], "172.18.0.0/16"),
        ("cidrsubnet", ["10.1.2.0/24", 4, 15], "10.1.2.240/28"),
        ("cidrsubnet", ["fd00:fd12:3456:7890::/56", 16, 162], "fd00:fd12:3456:7800:a200::/72"),
        ("cidrsubnet", ["fe80::/48", 16, 6], "fe80:0:0:6::/64"),
        ("cidrsubnet", ["::ffff:192.168.0.0/112", 8, 6], "192.168.6.0/24"),
    ],
)
def test_cidr_results(call, name: str, args: list[object], want: str) -> None:
    assert call(name, *args).as_str() == want


def test_cidrsubnets_packs_consecutively(call) -> None:
    assert to_python(call("cidrsubnets", "10.1.0.0/16", 4, 4, 8, 4)) == [
        "10.1.0.0/20", "10.1.16.0/20", "10.1.32.0/24", "10.1.48.0/20",
    ]  # fmt: skip
    assert to_python(call("cidrsubnets", "fd00:fd12:3456:7890::/56", 16, 16, 16, 32)) == [
        "fd00:fd12:3456:7800::/72", "fd00:fd12:3456:7800:100::/72",
        "fd00:fd12:3456:7800:200::/72", "fd00:fd12:3456:7800:300::/88",
    ]  # fmt: skip
    assert to_python(call("cidrsubnets", "10.0.0.0/8")) == []


@pytest.mark.parametrize(
    ("name", "args", "reason"),
    [
        ("cidrhost", ["10.12.112.0/20", 5000], "does not accommodate a host numbered 5000"),
        ("cidrhost", ["010.0.0.0/8", 1], "invalid CIDR"),
        ("cidrnetmask", ["10.0.0.1"], "invalid CIDR"),
        ("cidrsubnet", ["10.1.2.0/24", 4, 16], "does not accommodate a subnet numbered 16"),
        ("cidrsubnet", ["10.1.2.0/24", 10, 0], "insufficient address space"),
        ("cidrsubnets", ["10.0.0.0/30", 1, 1, 1], "not enough remaining address space"),
        ("cidrsubnets", ["10.0.0.0/30", 1, 3], "too long"),
        ("cidrsubnets", ["10.0.0.0/24", 0], "at least one bit"),
        ("cidrsubnets", ["10.0.0.0/24", 9], "too long"),
        ("cidrsubnets", ["fd00::/56", 33], "more than 32 bits"),
        ("cidrsubnet", ["fd00::/56", 33, 0], "more than 32 bits"),
    ],
)
def test_cidr_errors(call, name: str, args: list[object], reason: str) -> None:
    assert reason in error_of(call, name, *args)
