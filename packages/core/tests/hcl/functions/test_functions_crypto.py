"""Hashes, bcrypt, RSA decryption and UUIDs."""

from __future__ import annotations

import base64
import uuid

import bcrypt
import pytest
from bakehouse.hcl.function import FunctionContext
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fnsupport import error_of


def test_hashes(call) -> None:
    assert call("md5", "").as_str() == "d41d8cd98f00b204e9800998ecf8427e"
    assert call("sha1", "test").as_str() == "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
    assert (
        call("sha256", "").as_str()
        == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert call("sha512", "test").as_str().startswith("ee26b0dd4af7e749aa1a8ee3c10ae9923f61898077")


def test_bcrypt_uses_2a_prefix_and_verifies(call) -> None:
    hashed = call("bcrypt", "hello", 4).as_str()
    assert hashed.startswith("$2a$04$") and len(hashed) == 60
    assert bcrypt.checkpw(b"hello", hashed.encode())
    assert call("bcrypt", "x").as_str().startswith("$2a$10$")
    assert call("bcrypt", "x", 3).as_str().startswith("$2a$10$")


def test_bcrypt_salt_is_injectable(call) -> None:
    salt = b"$2b$04$abcdefghijklmnopqrstuu"
    fctx = FunctionContext(extra={"bcrypt_salt": lambda cost: salt})
    first = call("bcrypt", "pw", 4, fctx=fctx).as_str()
    assert first == call("bcrypt", "pw", 4, fctx=fctx).as_str()
    assert first.startswith("$2a$04$abcdefghijklmnopqrstu")


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["x", 32], "outside allowed range"),
        (["x", 4, 5], "no more than two"),
        (["x" * 73], "72 bytes"),
    ],
)
def test_bcrypt_errors(call, args: list[object], reason: str) -> None:
    assert reason in error_of(call, "bcrypt", *args)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_rsadecrypt_pkcs1_v15(call, rsa_key: rsa.RSAPrivateKey) -> None:
    cipher = base64.b64encode(
        rsa_key.public_key().encrypt(b"Hello, world!", padding.PKCS1v15())
    ).decode()
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    assert pem.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert call("rsadecrypt", cipher, pem).as_str() == "Hello, world!"


def test_rsadecrypt_errors(call, rsa_key: rsa.RSAPrivateKey) -> None:
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    assert "base64" in error_of(call, "rsadecrypt", "!!", pem)
    assert "no key found" in error_of(call, "rsadecrypt", "aGVsbG8=", "bad key")
    pkcs8 = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    assert "PKCS#1" in error_of(call, "rsadecrypt", "aGVsbG8=", pkcs8)
    broken = pem.replace(pem.splitlines()[3], "A" * 64)
    assert "failed to parse key" in error_of(call, "rsadecrypt", "aGVsbG8=", broken)
    for bad in (b"x" * 256, b"\x01" * 300, b"\x00\x01" + b"\xff" * 254):
        assert "decryption error" in error_of(
            call, "rsadecrypt", base64.b64encode(bad).decode(), pem
        )


def test_uuids(call) -> None:
    assert call("uuidv5", "dns", "tada").as_str() == "faa898db-9b9d-5b75-86a9-149e7bb8e3b8"
    assert call("uuidv5", "url", "tada").as_str() == "2c1ff6b4-211f-577e-94de-d978b0caa16e"
    assert call("uuidv5", "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "tada").as_str() == (
        "faa898db-9b9d-5b75-86a9-149e7bb8e3b8"
    )
    assert "doesn't support namespace" in error_of(call, "uuidv5", "tada", "tada")
    generated = uuid.UUID(call("uuidv4").as_str())
    assert generated.version == 4
    fixed = uuid.UUID("12345678-1234-4234-8234-123456789abc")
    assert call("uuidv4", fctx=FunctionContext(extra={"uuid4": lambda: fixed})).as_str() == str(
        fixed
    )
