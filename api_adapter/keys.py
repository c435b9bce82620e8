"""API keys: shown once, stored as SHA-256 digests, scoped to one organization, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import ids
from models.tables import ApiKey, Organization

KEY_PREFIX = "wft_"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, org_name: str) -> str:
    org = session.scalars(select(Organization).where(Organization.name == org_name)).first()
    if org is None:
        org = Organization(id=ids.new_id(ids.ORG), name=org_name)
        session.add(org)
        session.flush()
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(id=ids.new_id(ids.API_KEY), organization_id=org.id, key_hash=digest(key), prefix=key[:12]))
    return key


def revoke_api_key(session: Session, key: str) -> bool:
    row = session.scalars(select(ApiKey).where(ApiKey.key_hash == digest(key), ApiKey.revoked_at.is_(None))).first()
    if row is None:
        return False
    row.revoked_at = datetime.now(timezone.utc)
    return True


def authenticate(session: Session, key: str) -> str | None:
    """The organization id of a live key, else None."""
    return session.scalar(
        select(ApiKey.organization_id).where(ApiKey.key_hash == digest(key), ApiKey.revoked_at.is_(None))
    )
