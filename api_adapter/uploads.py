"""Short-lived signed upload tokens: the SDK PUTs file bytes to ``upload_url`` with only the
``upload_headers`` (no Api-Key), so the URL itself carries the authority, bound to one file."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from models.settings import get_settings


def _sign(payload: str) -> str:
    key = get_settings().wft_secret_key.encode()
    return base64.urlsafe_b64encode(hmac.new(key, payload.encode(), hashlib.sha256).digest()).decode().rstrip("=")


def make_token(file_id: str, expires_at: int | None = None) -> tuple[str, int]:
    expires_at = expires_at or int(time.time()) + get_settings().wft_upload_token_ttl_s
    payload = f"{file_id}.{expires_at}"
    return f"{expires_at}.{_sign(payload)}", expires_at


def check_token(file_id: str, token: str) -> bool:
    try:
        expires_s, signature = token.split(".", 1)
        expires_at = int(expires_s)
    except ValueError:
        return False
    if expires_at < time.time():
        return False
    return hmac.compare_digest(signature, _sign(f"{file_id}.{expires_at}"))
