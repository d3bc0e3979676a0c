"""GitHub App authentication as GitHub checks it: RS256 JWTs for the app, tokens for repos."""

from __future__ import annotations

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .http import ApiError

# GitHub refuses JWTs valid for more than 10 minutes; allow its documented 60 s clock drift.
MAX_JWT_LIFETIME_S = 600 + 60


def generate_private_key_pem() -> str:
    """A fresh 2048-bit RSA key in PKCS#1 PEM, the format GitHub hands out."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def public_key_pem(private_key_pem: str) -> str:
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def credentials(authorization: str | None) -> str | None:
    """The credential from ``token X`` / ``Bearer X`` (scheme case-insensitive, as GitHub)."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() not in ("token", "bearer") or not value.strip():
        return None
    return value.strip()


def verify_app_jwt(authorization: str | None, public_key: str, app_id: int) -> None:
    """Raise a 401 ApiError unless the header holds a JWT GitHub would accept for this app.

    Time claims are checked against the real clock, not the fake clock: the app mints its
    JWTs with the wall clock (gidgethub does), so tests moving the fake clock to expire
    installation tokens must not also invalidate every JWT.
    """
    token = credentials(authorization)
    if token is None:
        raise ApiError(401, "A JSON web token could not be decoded")
    try:
        claims = jwt.decode(
            token,
            public_key,
            algorithms=["RS256"],
            leeway=60,
            options={"require": ["iat", "exp", "iss"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise ApiError(
            401,
            "'Expiration time' claim ('exp') must be a numeric value "
            "representing the future time at which the assertion expires",
        ) from error
    except jwt.InvalidTokenError as error:
        raise ApiError(401, f"A JSON web token could not be decoded ({error})") from error
    if str(claims["iss"]) != str(app_id):
        raise ApiError(401, f"'Issuer' claim ('iss') must be the app id {app_id}")
    if int(claims["exp"]) - int(claims["iat"]) > MAX_JWT_LIFETIME_S:
        raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
