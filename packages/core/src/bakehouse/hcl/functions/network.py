"""CIDR functions (go-cty-funcs semantics) on top of :mod:`ipaddress`.

Addresses are handled as integers of 32 or 128 bits; an IPv4-mapped IPv6
prefix (``::ffff:a.b.c.d/n`` with n >= 96) is treated as IPv4, as Go does.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from bakehouse.hcl.function import Function, FunctionContext, FunctionError
from bakehouse.hcl.functions._util import define, p, whole_number
from bakehouse.hcl.values import NUMBER, STRING, ListType, Value, list_value, string


@dataclass(frozen=True)
class _Prefix:
    network: int  # first address
    length: int  # prefix length
    bits: int  # 32 or 128

    @property
    def host_bits(self) -> int:
        return self.bits - self.length

    def address(self, value: int) -> str:
        if self.bits == 32:
            return str(ipaddress.IPv4Address(value))
        return ipaddress.IPv6Address(value).compressed

    def text(self) -> str:
        return f"{self.address(self.network)}/{self.length}"


def _parse(text: str, index: int = 0) -> _Prefix:
    if "/" not in text:
        raise FunctionError(f"invalid CIDR expression: invalid CIDR address: {text}", index)
    address, _, length_text = text.partition("/")
    if not length_text.isdigit() or (len(length_text) > 1 and length_text.startswith("0")):
        raise FunctionError(f"invalid CIDR expression: invalid CIDR address: {text}", index)
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise FunctionError(
            f"invalid CIDR expression: invalid CIDR address: {text}", index
        ) from None
    if isinstance(network, ipaddress.IPv6Network):
        mapped = network.network_address.ipv4_mapped
        if mapped is not None and network.prefixlen >= 96 and "." in address:
            return _Prefix(int(mapped), network.prefixlen - 96, 32)
        return _Prefix(int(network.network_address), network.prefixlen, 128)
    return _Prefix(int(network.network_address), network.prefixlen, 32)


def _cidrhost(args: list[Value], fctx: FunctionContext) -> Value:
    prefix = _parse(args[0].as_str())
    host = whole_number(args[1], "host number", 1)
    size = 1 << prefix.host_bits
    wanted = host
    if host < 0:
        host += size
    if host < 0 or host >= size:
        raise FunctionError(
            f"prefix of {prefix.length} does not accommodate a host numbered {wanted}", 1
        )
    return string(prefix.address(prefix.network + host))


def _cidrnetmask(args: list[Value], fctx: FunctionContext) -> Value:
    prefix = _parse(args[0].as_str())
    mask = ((1 << prefix.bits) - 1) ^ ((1 << prefix.host_bits) - 1)
    return string(prefix.address(mask))


def _subnet(prefix: _Prefix, newbits: int, netnum: int) -> _Prefix:
    new_length = prefix.length + newbits
    if newbits < 0:
        raise FunctionError("must extend prefix by at least one bit", 1)
    if new_length > prefix.bits:
        raise FunctionError(
            f"insufficient address space to extend prefix of {prefix.length} by {newbits}", 1
        )
    if netnum < 0 or netnum >= (1 << newbits):
        raise FunctionError(
            f"prefix extension of {newbits} does not accommodate a subnet numbered {netnum}", 2
        )
    return _Prefix(prefix.network | (netnum << (prefix.bits - new_length)), new_length, prefix.bits)


def _cidrsubnet(args: list[Value], fctx: FunctionContext) -> Value:
    prefix = _parse(args[0].as_str())
    newbits = whole_number(args[1], "newbits", 1)
    netnum = whole_number(args[2], "netnum", 2)
    if newbits > 32:
        raise FunctionError("may not extend prefix by more than 32 bits", 1)
    return string(_subnet(prefix, newbits, netnum).text())


def _cidrsubnets(args: list[Value], fctx: FunctionContext) -> Value:
    prefix = _parse(args[0].as_str())
    lengths = [whole_number(a, "newbits", i + 1) for i, a in enumerate(args[1:])]
    if not lengths:
        return list_value([], STRING)
    full = (1 << prefix.bits) - 1
    end_of_network = prefix.network + (1 << prefix.host_bits) - 1
    # Start just before the network so the first subnet lands on its first address.
    current_last = prefix.network - 1
    results: list[Value] = []
    for i, newbits in enumerate(lengths):
        if newbits < 1:
            raise FunctionError("must extend prefix by at least one bit", i + 1)
        if newbits > 32:
            raise FunctionError("may not extend prefix by more than 32 bits", i + 1)
        new_length = prefix.length + newbits
        if new_length > prefix.bits:
            raise FunctionError(
                f"would extend prefix to {new_length} bits, which is too long for an IPv{4 if prefix.bits == 32 else 6} address",
                i + 1,
            )
        block = 1 << (prefix.bits - new_length)
        start = ((current_last // block) + 1) * block if current_last >= 0 else prefix.network
        if start > full or start + block - 1 > end_of_network or start < prefix.network:
            after = results[-1].as_str() if results else prefix.text()
            raise FunctionError(
                f"not enough remaining address space for a subnet with a prefix of {new_length} bits after {after}",
                i + 1,
            )
        results.append(string(_Prefix(start, new_length, prefix.bits).text()))
        current_last = start + block - 1
    return list_value(results, STRING)


S = STRING
FUNCTIONS: dict[str, Function] = {
    "cidrhost": define([p("prefix", S), p("hostnum", NUMBER)], _cidrhost, returns=S),
    "cidrnetmask": define([p("prefix", S)], _cidrnetmask, returns=S),
    "cidrsubnet": define(
        [p("prefix", S), p("newbits", NUMBER), p("netnum", NUMBER)], _cidrsubnet, returns=S
    ),
    "cidrsubnets": define(
        [p("prefix", S)], _cidrsubnets, var_param=p("newbits", NUMBER), returns=ListType(S)
    ),
}
