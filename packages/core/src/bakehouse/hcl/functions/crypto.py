"""Hashes, bcrypt, RSA decryption and UUIDs.

Randomness is injectable for tests: ``fctx.extra["uuid4"]`` (a callable
returning :class:`uuid.UUID`) and ``fctx.extra["bcrypt_salt"]`` (a callable
taking the cost and returning a salt as ``bcrypt.gensalt`` does).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from collections.abc import Callable
from typing import Any

from bakehouse.hcl.function import Function, FunctionContext, FunctionError
from bakehouse.hcl.functions._util import define, p, whole_number
from bakehouse.hcl.values import NUMBER, STRING, Value, string


def _hasher(name: str) -> Callable[[list[Value], FunctionContext], Value]:
    def impl(args: list[Value], fctx: FunctionContext) -> Value:
        return string(hashlib.new(name, args[0].as_str().encode("utf-8")).hexdigest())

    return impl


def _bcrypt(args: list[Value], fctx: FunctionContext) -> Value:
    if len(args) > 2:
        raise FunctionError(f"bcrypt() takes no more than two arguments, but got {len(args)}")
    cost = 10
    if len(args) == 2:
        cost = whole_number(args[1], "the cost", 1)
    if cost < 4:
        cost = 10  # Go's bcrypt quietly uses its default cost below the minimum
    if cost > 31:
        raise FunctionError(f"crypto/bcrypt: cost {cost} is outside allowed range (4,31)", 1)
    secret = args[0].as_str().encode("utf-8")
    if len(secret) > 72:
        raise FunctionError(
            "error occurred generating password: password length exceeds 72 bytes", 0
        )
    import bcrypt as bcrypt_lib  # imported on first use: it is rarely needed and slow to import

    make_salt: Callable[[int], bytes] = fctx.extra.get("bcrypt_salt") or (
        lambda rounds: bcrypt_lib.gensalt(rounds)
    )
    hashed = bcrypt_lib.hashpw(secret, make_salt(cost)).decode("ascii")
    # Go's x/crypto/bcrypt writes the $2a$ variant; the hash itself is the same.
    return string("$2a$" + hashed[4:])


_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.S)


def _rsadecrypt(args: list[Value], fctx: FunctionContext) -> Value:
    # imported on first use: cryptography costs tens of milliseconds at start-up
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    encoded, pem = args[0].as_str(), args[1].as_str()
    try:
        ciphertext = base64.b64decode(encoded.replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise FunctionError(
            'failed to decode input "cipher_text": cipher text must be base64-encoded', 0
        ) from None
    block = _PEM_BLOCK.search(pem)
    if block is None:
        raise FunctionError("failed to parse key: no key found", 1)
    if "Proc-Type: 4,ENCRYPTED" in block.group(0):
        raise FunctionError(
            "failed to parse key: password protected keys are not supported. "
            "Please decrypt the key prior to use",
            1,
        )
    if block.group(1) != "RSA PRIVATE KEY":
        # Packer reads the first PEM block as PKCS#1 only.
        raise FunctionError(
            f'failed to parse key: a PKCS#1 "RSA PRIVATE KEY" is required, not "{block.group(1)}"',
            1,
        )
    try:
        key = serialization.load_pem_private_key(block.group(0).encode("utf-8"), password=None)
    except Exception as exc:  # ValueError, TypeError or the backend's own types
        reason = str(exc).split("\n")[0] or type(exc).__name__
        raise FunctionError(f"failed to parse key: {reason}", 1) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise FunctionError("invalid private key: not an RSA private key", 1)
    plain = _pkcs1v15_decrypt(key, ciphertext)
    if plain is None:
        raise FunctionError("failed to decrypt: crypto/rsa: decryption error", 0)
    try:
        return string(plain.decode("utf-8"))
    except UnicodeDecodeError:
        raise FunctionError("the decrypted value is not valid UTF-8", 0) from None


def _pkcs1v15_decrypt(key: Any, ciphertext: bytes) -> bytes | None:
    """RSA PKCS#1 v1.5 decryption that reports bad padding, as Go does.

    OpenSSL 3 answers a bad ciphertext with random-looking plaintext (implicit
    rejection, a defence for online decryption oracles that does not apply to
    template evaluation), which would turn Packer's error into garbage text.
    """
    numbers = key.private_numbers()
    n: int = numbers.public_numbers.n
    d: int = numbers.d
    size = (n.bit_length() + 7) // 8
    c = int.from_bytes(ciphertext, "big")
    if size < 11 or len(ciphertext) > size or c >= n:
        return None
    encoded: bytes = pow(c, d, n).to_bytes(size, "big")
    separator = encoded.find(b"\x00", 2)
    # 0x00 0x02, at least 8 non-zero padding bytes, 0x00, message
    if encoded[0] != 0 or encoded[1] != 2 or separator < 10:
        return None
    return encoded[separator + 1 :]


def _uuidv4(args: list[Value], fctx: FunctionContext) -> Value:
    make: Callable[[], uuid.UUID] = fctx.extra.get("uuid4") or uuid.uuid4
    return string(str(make()))


_NAMESPACES = {
    "dns": uuid.NAMESPACE_DNS,
    "url": uuid.NAMESPACE_URL,
    "oid": uuid.NAMESPACE_OID,
    "x500": uuid.NAMESPACE_X500,
}


def _uuidv5(args: list[Value], fctx: FunctionContext) -> Value:
    namespace_text, name = args[0].as_str(), args[1].as_str()
    namespace = _NAMESPACES.get(namespace_text)
    if namespace is None:
        try:
            namespace = uuid.UUID(namespace_text)
        except ValueError:
            raise FunctionError(
                f"uuidv5() doesn't support namespace {namespace_text} (error: invalid UUID format)",
                0,
            ) from None
    return string(str(uuid.uuid5(namespace, name)))


S = STRING
FUNCTIONS: dict[str, Function] = {
    "bcrypt": define([p("str", S)], _bcrypt, var_param=p("cost", NUMBER), returns=S),
    "md5": define([p("str", S)], _hasher("md5"), returns=S),
    "rsadecrypt": define([p("ciphertext", S), p("privatekey", S)], _rsadecrypt, returns=S),
    "sha1": define([p("str", S)], _hasher("sha1"), returns=S),
    "sha256": define([p("str", S)], _hasher("sha256"), returns=S),
    "sha512": define([p("str", S)], _hasher("sha512"), returns=S),
    "uuidv4": define([], _uuidv4, returns=S),
    "uuidv5": define([p("namespace", S), p("name", S)], _uuidv5, returns=S),
}
