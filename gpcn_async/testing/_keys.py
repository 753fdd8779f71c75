"""SSH key material for the fake: OpenSSH key pairs, with the standard library only.

Ed25519 and ECDSA P-256 pairs are real ones: the public key is derived from the private one
(RFC 8032, SEC 2), so ``ssh-keygen -y -f key`` prints the library's public key. RSA keys are
shaped exactly like OpenSSH's (same fields, sizes and framing) but their numbers are random:
the fake never signs with them, and finding large primes in plain Python takes seconds. With a
passphrase the private part is random bytes framed as ``aes256-ctr`` + ``bcrypt``, as an
encrypted key is.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
from collections.abc import Callable

__all__ = ["ALGORITHMS", "generate_key_pair", "parse_public_key", "public_key_algorithm"]

ALGORITHMS: dict[str, tuple[str, str, str]] = {
    "ed25519": ("ssh-ed25519", "ED25519", "Modern elliptic curve; recommended"),
    "rsa-4096": ("ssh-rsa", "RSA 4096-bit", "Widely compatible"),
    "rsa-2048": ("ssh-rsa", "RSA 2048-bit", "Legacy compatibility"),
    "ecdsa-p256": ("ecdsa-sha2-nistp256", "ECDSA P-256", "Elliptic curve, small keys"),
}
"""Algorithm code -> (OpenSSH key type, display name, description), in the server's order."""

_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----"
_END = "-----END OPENSSH PRIVATE KEY-----"
_MAGIC = b"openssh-key-v1\x00"


def _string(data: bytes | str) -> bytes:
    """An SSH wire ``string``: a 4-byte length, then the bytes."""
    raw = data.encode() if isinstance(data, str) else data
    return struct.pack(">I", len(raw)) + raw


def _positive_mpint(value: int) -> bytes:
    """An SSH wire ``mpint`` of a positive number: big-endian, a zero byte before a high bit."""
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return _string(b"\x00" + raw if raw[0] & 0x80 else raw)


# -- elliptic curves, in plain integers -----------------------------------------------------

_Point = tuple[int, ...]


def _multiply(
    scalar: int, point: _Point, add: Callable[[_Point, _Point], _Point], zero: _Point
) -> _Point:
    """``scalar`` times ``point`` on a curve, by double-and-add."""
    result = zero
    while scalar:
        if scalar & 1:
            result = add(result, point)
        point = add(point, point)
        scalar >>= 1
    return result


# ed25519 (RFC 8032, section 5.1), in extended coordinates (X, Y, Z, T).
_ED_P = 2**255 - 19
_ED_D = -121665 * pow(121666, -1, _ED_P) % _ED_P
_ED_X = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_ED_Y = 46316835694926478169428394003475163141307993866256225615783033603165251855960


def _ed_add(p: _Point, q: _Point) -> _Point:
    a = (p[1] - p[0]) * (q[1] - q[0]) % _ED_P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _ED_P
    c = 2 * p[3] * q[3] * _ED_D % _ED_P
    d = 2 * p[2] * q[2] % _ED_P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _ED_P, g * h % _ED_P, f * g % _ED_P, e * h % _ED_P)


def _ed25519_public(seed: bytes) -> bytes:
    """The public key of a 32-byte private seed."""
    digest = hashlib.sha512(seed).digest()
    scalar = int.from_bytes(digest[:32], "little")
    scalar = (scalar & ((1 << 254) - 8)) | (1 << 254)
    base = (_ED_X, _ED_Y, 1, _ED_X * _ED_Y % _ED_P)
    x, y, z, _ = _multiply(scalar, base, _ed_add, (0, 1, 1, 0))
    inverse = pow(z, -1, _ED_P)
    x, y = x * inverse % _ED_P, y * inverse % _ED_P
    return (y | (x & 1) << 255).to_bytes(32, "little")


# NIST P-256 (SEC 2), in affine coordinates; () is the point at infinity.
_EC_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
_EC_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_EC_G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)


def _ec_add(p: _Point, q: _Point) -> _Point:
    if not p or not q:
        return p or q
    if p[0] == q[0] and (p[1] + q[1]) % _EC_P == 0:
        return ()
    if p == q:
        slope = (3 * p[0] * p[0] - 3) * pow(2 * p[1], -1, _EC_P) % _EC_P
    else:
        slope = (q[1] - p[1]) * pow(q[0] - p[0], -1, _EC_P) % _EC_P
    x = (slope * slope - p[0] - q[0]) % _EC_P
    return (x, (slope * (p[0] - x) - p[1]) % _EC_P)


def _ed25519() -> tuple[bytes, bytes]:
    seed = os.urandom(32)
    public = _ed25519_public(seed)
    blob = _string("ssh-ed25519") + _string(public)
    return blob, blob + _string(seed + public)


# -- key pairs -------------------------------------------------------------------------------


def _odd(bits: int) -> int:
    """A random odd number of exactly ``bits`` bits."""
    return int.from_bytes(os.urandom(bits // 8), "big") | (1 << (bits - 1)) | 1


def _rsa(bits: int) -> Callable[[], tuple[bytes, bytes]]:
    def make() -> tuple[bytes, bytes]:
        p, q = _odd(bits // 2), _odd(bits // 2)
        n, e, d, iqmp = p * q, 65537, _odd(bits - 8), _odd(bits // 2 - 8)
        blob = _string("ssh-rsa") + _positive_mpint(e) + _positive_mpint(n)
        private = [_positive_mpint(value) for value in (n, e, d, iqmp, p, q)]
        return blob, _string("ssh-rsa") + b"".join(private)

    return make


def _ecdsa() -> tuple[bytes, bytes]:
    secret = int.from_bytes(os.urandom(32), "big") % (_EC_N - 1) + 1
    x, y = _multiply(secret, _EC_G, _ec_add, ())
    point = b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")
    blob = _string("ecdsa-sha2-nistp256") + _string("nistp256") + _string(point)
    return blob, blob + _positive_mpint(secret)


_MAKERS: dict[str, Callable[[], tuple[bytes, bytes]]] = {
    "ed25519": _ed25519,
    "rsa-4096": _rsa(4096),
    "rsa-2048": _rsa(2048),
    "ecdsa-p256": _ecdsa,
}


def generate_key_pair(algorithm: str, comment: str, *, encrypted: bool = False) -> tuple[str, str]:
    """Make a key pair: ``(public key line, OpenSSH private key text)``.

    Args:
        algorithm: A code of ``ALGORITHMS``.
        comment: The comment of both keys (the key's name, as ``ssh-keygen -C`` puts it).
        encrypted: Frame the private part as encrypted with a passphrase.

    Raises:
        KeyError: An unknown algorithm.
    """
    blob, private = _MAKERS[algorithm]()
    check = os.urandom(4)
    section = check + check + private + _string(comment)
    block = 16 if encrypted else 8
    section += bytes(range(1, 1 + (-len(section)) % block))
    if encrypted:
        cipher, kdf = "aes256-ctr", "bcrypt"
        options = _string(_string(os.urandom(16)) + struct.pack(">I", 16))
        section = os.urandom(len(section))  # what encryption would leave: no readable field
    else:
        cipher, kdf, options = "none", "none", _string(b"")
    body = (
        _MAGIC
        + _string(cipher)
        + _string(kdf)
        + options
        + struct.pack(">I", 1)
        + _string(blob)
        + _string(section)
    )
    text = base64.b64encode(body).decode()
    lines = [text[start : start + 70] for start in range(0, len(text), 70)]
    private_key = "\n".join([_BEGIN, *lines, _END]) + "\n"
    key_type = ALGORITHMS[algorithm][0]
    return f"{key_type} {base64.b64encode(blob).decode()} {comment}", private_key


def parse_public_key(text: str) -> tuple[str, bytes] | None:
    """Read an OpenSSH public key line, ``<type> <base64> [comment]``: its type and blob.

    Returns:
        The type and the decoded blob, or None when the text is not of that form.
    """
    parts = text.strip().split(maxsplit=2)
    if len(parts) < 2 or any(char in text.strip() for char in "\r\n"):
        return None
    try:
        blob = binascii.a2b_base64(parts[1], strict_mode=True)
    except binascii.Error:
        return None
    return parts[0], blob


def public_key_algorithm(key_type: str, blob: bytes) -> str | None:
    """The algorithm code of a public key (``rsa-4096`` from the modulus size), None if unknown."""
    if key_type == "ssh-ed25519":
        return "ed25519"
    if key_type == "ecdsa-sha2-nistp256":
        return "ecdsa-p256"
    if key_type != "ssh-rsa":
        return None
    try:
        fields = _fields(blob, 3)
    except (struct.error, ValueError):
        return None
    bits = int.from_bytes(fields[2], "big").bit_length()
    return f"rsa-{bits}" if fields[0] == b"ssh-rsa" and f"rsa-{bits}" in ALGORITHMS else None


def _fields(blob: bytes, count: int) -> list[bytes]:
    """The first ``count`` length-prefixed fields of an SSH wire blob."""
    fields, offset = [], 0
    for _ in range(count):
        (length,) = struct.unpack_from(">I", blob, offset)
        offset += 4
        if offset + length > len(blob):
            raise ValueError("a field runs past the end of the blob")
        fields.append(blob[offset : offset + length])
        offset += length
    return fields
