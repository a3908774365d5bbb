"""``migrate``, ``devices ...`` and ``events``: the store's administration commands."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.app import build_directory, build_store, store_engine
from gateway.directory.connection import ConnectionFactory
from gateway.errors import DirectoryUnavailable, StoreOutOfDate, StoreUnavailable
from gateway.models import Device, DirectoryUser, Event
from gateway.settings import Settings
from gateway.store.revisions import current_revision, head_revision, upgrade
from gateway.store.sql import OTHER, EventCount


def add_store_commands(commands: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    migrate = commands.add_parser("migrate", help="create or upgrade the device store's schema")
    add_common(migrate)
    migrate.set_defaults(run=_migrate)

    devices = commands.add_parser("devices", help="list, revoke, force-update or prune devices")
    add_common(devices)
    actions = devices.add_subparsers(required=True, metavar="ACTION")
    for name, help_text, run in [
        ("list", "list devices", _list),
        ("revoke", "sign a device (or all of a user's) out for good", _revoke),
        ("force-update", "make the next call re-create the accounts", _force_update),
        ("reinstate", "let a revoked device sign in again (it enrols with the user's password)", _reinstate),
    ]:
        action = actions.add_parser(name, help=help_text)
        add_common(action)
        action.add_argument("--user", help="login, user key (objectGUID/entryUUID) or DN")
        action.add_argument("--device", help="deviceId")
        action.add_argument("--json", action="store_true")
        action.set_defaults(run=run)
    prune = actions.add_parser("prune", help="forget devices not seen for a while")
    add_common(prune)
    prune.add_argument("--older-than", type=int, required=True, metavar="DAYS")
    prune.set_defaults(run=_prune)
    release = actions.add_parser("release-sign-outs", help="re-open the safety valve after fixing the cause")
    add_common(release)
    release.set_defaults(run=_release)
    rotate = actions.add_parser("rotate-key", help="start fingerprinting accounts with a new key")
    add_common(rotate)
    rotate.set_defaults(run=_rotate)

    events = commands.add_parser("events", help="the audit trail and the counted failures, newest first")
    add_common(events)
    events.add_argument("--user", help="login or user key")
    events.add_argument("--device", help="deviceId")
    events.add_argument("--outcome", help="e.g. enrolled, signed_out, login_failed, unavailable")
    events.add_argument("--since-hours", type=float, help="only the last N hours")
    events.add_argument("--limit", type=int, default=50)
    events.add_argument("--json", action="store_true")
    events.set_defaults(run=_events)


def _migrate(args: argparse.Namespace, settings: Settings, _connections: object) -> int:
    engine = store_engine(settings)
    try:
        before = current_revision(engine)
        after = upgrade(engine)
    except StoreUnavailable as exc:
        print(f"migrate: {exc}")
        return 1
    print(f"device store schema: {before or 'empty'} -> {after} (this gateway needs {head_revision()})")
    return 0


def _store(settings: Settings) -> Any:
    try:
        return build_store(settings)
    except (StoreOutOfDate, StoreUnavailable) as exc:
        raise SystemExit(f"devices: {exc}") from None


@dataclass(frozen=True)
class _Who:
    """Whose devices ``--user`` names: the directory user's key, or (fallback) the text as typed."""

    match: str | None
    user: DirectoryUser | None = None


def _who(args: argparse.Namespace, settings: Settings, connections: ConnectionFactory | None) -> _Who:
    """Resolve ``--user`` (any login form, DN or user key) to the directory user, so every device
    of that person is found whatever login each phone used. When the directory cannot answer or
    does not know the name, match the store's records as typed, and say so on stderr."""
    if not args.user:
        return _Who(None)
    directory = build_directory(settings, connections)
    try:
        user = directory.find_user(args.user) or directory.find_user_by_id(args.user)
    except DirectoryUnavailable as exc:
        _note(f"directory not reachable ({exc}): matching {args.user!r} as recorded (login, key or DN) only")
        return _Who(args.user)
    finally:
        if connections is None:  # ours: close its connections (the demo's factory is the caller's)
            directory.connections.close()  # type: ignore[attr-defined]
    if user is None:
        _note(f"{args.user!r} is not in the directory: matching it as recorded (login, key or DN) only")
        return _Who(args.user)
    return _Who(user.key, user)


def _note(text: str) -> None:
    print(f"devices: {text}", file=sys.stderr)


def _list(args: argparse.Namespace, settings: Settings, connections: ConnectionFactory | None) -> int:
    who = _who(args, settings, connections)
    found = _store(settings).list_devices(who.match, args.device)
    if args.json:
        print(json.dumps([_device_json(d) for d in found], indent=2))
        return 0
    if not found:
        print("no devices")
    by_user: dict[str, list[Device]] = {}
    for device in found:
        by_user.setdefault(device.user_key, []).append(device)
    for key, owned in by_user.items():
        # The directory user once, then each of their phones with the login that phone uses.
        dn = who.user.dn if who.user is not None and who.user.key == key else owned[0].user_dn
        print(f"{dn or owned[0].login}  (key {key})")
        for device in owned:
            print(
                f"  {device.device_id:<28} {device.status.value:<11} "
                f"last seen {_when(device.last_seen)} from {device.last_source or '-'}  as {device.login}"
                f"{'  (update forced)' if device.force_update else ''}"
            )
    return 0


def _change(
    args: argparse.Namespace, settings: Settings, connections: ConnectionFactory | None, verb: str, **values: Any
) -> int:
    if not (args.user or args.device):
        print(f"devices {verb}: name --user and/or --device")
        return 2
    changed = _store(settings).set_devices(_who(args, settings, connections).match, args.device, **values)
    print(json.dumps({"changed": changed}) if args.json else f"{verb}: {changed} device(s)")
    return 0 if changed else 1


def _revoke(args: argparse.Namespace, settings: Settings, connections: ConnectionFactory | None) -> int:
    return _change(args, settings, connections, "revoked", status="revoked")


def _force_update(args: argparse.Namespace, settings: Settings, connections: ConnectionFactory | None) -> int:
    return _change(args, settings, connections, "update forced", force_update=True)


def _reinstate(args: argparse.Namespace, settings: Settings, connections: ConnectionFactory | None) -> int:
    if not (args.user or args.device):
        print("devices reinstated: name --user and/or --device")
        return 2
    changed = _store(settings).reinstate(_who(args, settings, connections).match, args.device)
    print(json.dumps({"changed": changed}) if args.json else f"reinstated: {changed} device(s)")
    return 0 if changed else 1


def _prune(args: argparse.Namespace, settings: Settings, _connections: object) -> int:
    removed = _store(settings).prune_devices(timedelta(days=args.older_than))
    print(f"removed {removed} device(s) not seen for {args.older_than} days")
    return 0


def _release(args: argparse.Namespace, settings: Settings, _connections: object) -> int:
    store = _store(settings)
    reason = store.valve_state()
    if reason is None:
        print("sign-outs are not held")
        return 0
    store.reset_valve()
    print(f"sign-outs released (they were held because: {reason})")
    return 0


def _rotate(args: argparse.Namespace, settings: Settings, _connections: object) -> int:
    print(f"new fingerprint key {_store(settings).rotate_fingerprint_key()}; phones are not re-created")
    return 0


def _events(args: argparse.Namespace, settings: Settings, _connections: object) -> int:
    """Events (one per call) and counted failures (one per minute, source, outcome and user),
    merged newest first; ``--device`` shows events only (counted failures keep no deviceId)."""
    since = datetime.now(UTC) - timedelta(hours=args.since_hours) if args.since_hours else None
    store = _store(settings)
    found: list[Event | EventCount] = list(
        store.list_events(user=args.user, device_id=args.device, outcome=args.outcome, since=since, limit=args.limit)
    )
    if not args.device:
        found += store.list_event_counts(user=args.user, outcome=args.outcome, since=since, limit=args.limit)
    found.sort(key=_newest, reverse=True)
    found = found[: args.limit]
    if args.json:
        print(json.dumps([_event_json(e) if isinstance(e, Event) else _count_json(e) for e in found], indent=2))
        return 0
    for entry in found:
        if isinstance(entry, EventCount):
            print(_count_line(entry))
            continue
        print(
            f"{_when(entry.at)}  {entry.outcome:<20} {entry.login:<24} {entry.device_id:<28} "
            f"{entry.source:<15} {entry.detail}"
        )
    return 0


def _newest(entry: Event | EventCount) -> datetime:
    return entry.at if isinstance(entry, Event) else entry.last_at


def _count_line(count: EventCount) -> str:
    """``login_failed x57 from 203.0.113.9 in the minute 10:41``, and for whom (ASCII: any console)."""
    when = count.minute.astimezone(UTC).strftime("%H:%M")
    if count.user_key == OTHER:
        what = f"in the hour {when} (more users than the per-source cap)"
    elif count.user_key:
        what = f"in the minute {when} for {count.login or count.user_key}"
    else:
        what = f"in the minute {when} (no known user)"
    return f"{_when(count.last_at)}  {count.outcome} x{count.count} from {count.source} {what}"


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _device_json(device: Device) -> dict[str, Any]:
    data = asdict(device)
    data["status"] = device.status.value
    for name in ("first_seen", "last_seen"):
        data[name] = data[name].isoformat() if data[name] else None
    data.pop("account_fingerprint")  # meaningless to a reader, and keyed material
    return data


def _event_json(event: Event) -> dict[str, Any]:
    data = asdict(event)
    data["at"] = event.at.isoformat()
    data["count"] = 1
    return data


def _count_json(count: EventCount) -> dict[str, Any]:
    """A counted row in the shape of an event (no deviceId, no detail), with its count and minute."""
    return {
        "at": count.last_at.isoformat(),
        "outcome": count.outcome,
        "login": count.login,
        "user_key": count.user_key,
        "device_id": "",
        "source": count.source,
        "detail": "",
        "count": count.count,
        "minute": count.minute.isoformat(),
    }
