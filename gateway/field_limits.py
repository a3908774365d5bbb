"""How long each value may be that a call brings or the gateway keeps: one table, for the edge and the store.

The HTTP edge (``gateway.web.params``) answers 400 to a request value over its limit, and the
store's columns (``gateway.store.tables``) are exactly this wide, so whatever the edge accepts
fits. Values the gateway writes itself (the caller's address, an event's detail) are cut to their
limit by the store instead. Lengths count characters (code points), as PostgreSQL's ``varchar``
does; SQLite does not enforce them. This module imports nothing of the gateway's, so every layer
may use it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldLimits:
    #: ``username`` as typed (after trimming), kept lower-cased as ``devices.login`` and ``events.login``.
    username: int = 255
    #: ``password``: never stored, only bounded.
    password: int = 1024
    #: ``deviceId``: ``devices.device_id`` and ``events.device_id``.
    device_id: int = 255
    #: The directory's immutable key for the user: ``devices.user_key`` and ``events.user_key``.
    user_key: int = 255
    #: The user's DN as the directory gave it: ``devices.user_dn``.
    user_dn: int = 1024
    #: The caller's address: ``devices.last_source`` and ``events.source`` (cut, never refused).
    source: int = 64
    #: Why an event was answered as it was: ``events.detail`` (cut, never refused).
    event_detail: int = 1024


LIMITS = FieldLimits()
