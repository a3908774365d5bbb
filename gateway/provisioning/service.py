"""The provisioning service (DESIGN §3): gathers the facts of a call, lets ``decision.decide``
pick the row of the table, and records the outcome. Plain Python: no HTTP, no LDAP, no SQL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from gateway.errors import (
    DirectoryUnavailable,
    LoginRejected,
    StoreUnavailable,
)
from gateway.mapping.mapper import map_accounts
from gateway.mapping.spec import AttributeSchema
from gateway.models import (
    Device,
    DeviceStatus,
    DirectoryUser,
    Event,
    Outcome,
    ProvisioningRequest,
    ProvisioningResult,
    SipAccount,
)
from gateway.provisioning.attempts import Attempt, AttemptLimiter, Turn, account_key
from gateway.provisioning.decision import Facts, Gone, Login, Verdict, decide, refused_before_lookup, unavailable
from gateway.provisioning.directory_answer import DirectoryAnswer, password_changed, refused_before_bind, rejection
from gateway.provisioning.entitlement import Entitlement
from gateway.provisioning.known_phones import KnownPhones
from gateway.provisioning.ports import DeviceStore, Directory, StoreTransaction
from gateway.provisioning.safety_valve import SafetyValve
from gateway.provisioning.shield import FailedPasswordMemory
from gateway.provisioning.telemetry import NullTelemetry, Telemetry
from gateway.settings import MessagesSettings, SafetyValveSettings

log = logging.getLogger(__name__)
#: Answers that take at least the failure floor: every failure a caller could tell apart by time,
#: including a wrong password on an enrolled phone (which would confirm a guessed deviceId).
_FLOORED = frozenset({Outcome.LOGIN_FAILED, Outcome.RATE_LIMITED, Outcome.SIGN_IN_AGAIN, Outcome.LOCKED})
#: Answers after which the phone holds its accounts: its password is the one it last signed in with.
_SIGNED_IN = frozenset({Outcome.ENROLLED, Outcome.CHANGED, Outcome.UNCHANGED})
#: An unchanged phone's "last seen" is written at most this often (each write costs a transaction).
LAST_SEEN_REFRESH = timedelta(minutes=5)


@dataclass
class _Call:
    """One call's facts as they are gathered."""

    request: ProvisioningRequest
    observed: DirectoryAnswer
    user_key: str = ""
    accounts: tuple[SipAccount, ...] = ()


@dataclass
class ProvisioningService:
    directory: Directory
    store: DeviceStore
    schema: AttributeSchema
    entitlement: Entitlement
    messages: MessagesSettings
    valve: SafetyValve = field(default_factory=lambda: SafetyValve(SafetyValveSettings(), NullTelemetry()))
    max_devices: int = 5
    limiter: AttemptLimiter = field(default_factory=lambda: AttemptLimiter(per_account="", per_source=""))
    shield: bool = True
    failure_floor: float = 0.0  # seconds every failed sign-in takes at least (no timing oracle)
    failed_passwords: FailedPasswordMemory = field(default_factory=FailedPasswordMemory)
    known_phones: KnownPhones = field(default_factory=KnownPhones)
    #: Failed answers held back by the floor at one time; the others are answered at once, so a
    #: flood of failures cannot park every worker thread in the floor's sleep.
    max_delayed_answers: int = 4
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = time.sleep
    telemetry: Telemetry = field(default_factory=NullTelemetry)

    def __post_init__(self) -> None:
        self._delay_slots = threading.BoundedSemaphore(max(1, self.max_delayed_answers))

    def provision(self, request: ProvisioningRequest) -> ProvisioningResult:
        """Answer one call from the app; never raises for a business outcome or an outage."""
        started = time.monotonic()
        result = self._answer_call(request)
        if result.outcome in _FLOORED and self.failure_floor:
            self._hold_to_floor(started)
        self.telemetry.request_finished(result.outcome.value, time.monotonic() - started)
        return result

    def _hold_to_floor(self, started: float) -> None:
        """Unknown user, wrong password, disabled, locked, not entitled and rate-limited answers
        take the same minimum time, so latency does not tell them apart either — while a slot is
        free. Beyond ``max_delayed_answers`` (a flood) failures are answered at once, whatever
        their kind: the worker threads stay free for the calls that sign phones in."""
        remaining = self.failure_floor - (time.monotonic() - started)
        if remaining <= 0:
            return
        if not self._delay_slots.acquire(blocking=False):
            self.telemetry.bind_avoided("floor_full")
            return
        try:
            self.sleep(remaining)
        finally:
            self._delay_slots.release()

    def _answer_call(self, request: ProvisioningRequest) -> ProvisioningResult:
        if not request.password.strip():
            return self._empty_password(request)
        try:
            return self._provision(request)
        except DirectoryUnavailable as exc:
            log.warning("directory unavailable for %r: %s", request.username, exc)
            self._record_quietly(request, Outcome.UNAVAILABLE, f"directory: {exc}")
        except StoreUnavailable as exc:
            log.warning("device store unavailable for %r: %s", request.username, exc)
        return self._answer(unavailable())

    def _provision(self, request: ProvisioningRequest) -> ProvisioningResult:
        if self._refused_before_lookup(request):
            self.telemetry.bind_avoided("rate_limited")
            self._record_quietly(request, Outcome.RATE_LIMITED, "too many failed attempts: no directory call")
            return self._answer(refused_before_lookup(rate_limited=True))
        if self.directory.searches_before_bind:
            user = self.directory.find_user(request.username)
            if user is None:
                return self._not_found(request)
            # First-time set-up binds whatever the device's record says, so it needs no early look.
            snapshot = self.store.find_device(user.key, request.device_id) if request.reprovision else None
            observed = self._observe(request, user, snapshot)
            return self._decide_and_record(request, observed, snapshot=snapshot)
        observed = self._bind_directly(request)
        if observed.user is None:
            return self._not_found(request, observed)
        return self._decide_and_record(request, observed)

    def _refused_before_lookup(self, request: ProvisioningRequest) -> bool:
        """The typed name or the source is over its limit, and no phone ever signed in with this
        login and password: refused with no directory search and no device lookup, so a flood of
        failing calls costs almost nothing. A known login and password take the full path, where a
        known phone is answered quietly and a new phone of that user may still bind."""
        typed = Attempt(account_key(None, request.username), request.source_address)
        return not self.limiter.allowed(typed) and not self.known_phones.login_knows(request.username, request.password)

    def _empty_password(self, request: ProvisioningRequest) -> ProvisioningResult:
        """No directory call; counted like a failure, once the limit says a new count may be added."""
        attempt = Attempt(account_key(None, request.username), request.source_address)
        if not self.limiter.allowed(attempt):
            self._record_quietly(request, Outcome.RATE_LIMITED, "empty password, too many failed attempts")
            return self._answer(refused_before_lookup(rate_limited=True))
        self.limiter.failed(attempt)
        self._record_quietly(request, Outcome.LOGIN_FAILED, "empty password, no directory call")
        return self._answer(refused_before_lookup(rate_limited=False))

    # -- gathering the facts -------------------------------------------------------------------

    def _observe(self, request: ProvisioningRequest, user: DirectoryUser, snapshot: Device | None) -> DirectoryAnswer:
        """Refuse what the search already rules out without binding; otherwise bind."""
        enrolled = snapshot is not None and snapshot.status is DeviceStatus.ENROLLED
        refused = refused_before_bind(user, self.entitlement)
        if refused is not None:
            # Throttled exactly like an unknown name or a wrong password: the answer turns
            # "rate limited" at the same count, so neither the body nor /metrics tells them apart.
            attempt = Attempt(account_key(user.key, request.username), request.source_address)
            if not enrolled and not self.limiter.allowed(attempt):
                return DirectoryAnswer(
                    user, rate_limited=True, avoided="rate_limited", detail="too many failed attempts"
                )
            return refused
        if snapshot is not None and snapshot.status is DeviceStatus.REVOKED:
            return DirectoryAnswer(user, avoided="revoked", detail="revoked device: no bind")
        if self.shield and enrolled and password_changed(snapshot, user):
            return DirectoryAnswer(
                user, avoided="password_changed", detail="password changed since the last good bind: no bind"
            )
        return self._bind(request, user, saved_password=enrolled)

    def _bind(
        self, request: ProvisioningRequest, user: DirectoryUser | None, *, saved_password: bool = False
    ) -> DirectoryAnswer:
        """Bind, unless the shield knows this password fails or the attempt limit says no.

        ``saved_password``: the caller is an enrolled phone re-sending the password it saved.
        Once such a password failed, the user's other phones (which saved the same one) are
        answered from memory: at most one failed bind per user per password change.
        """
        marker = user.password_changed_at if user else None
        memory = self.failed_passwords
        scopes = [memory.device_scope(request.device_id)]
        if saved_password and user is not None:
            scopes.append(memory.user_scope(user.key))
        if self.shield and any(memory.failed_before(scope, marker, request.password) for scope in scopes):
            memory.remember(scopes, marker, request.password)  # this phone, signed out now, keeps it out too
            return DirectoryAnswer(
                user,
                login=Login.WRONG_PASSWORD,
                repeated=True,
                avoided="repeated_password",
                detail="this saved password already failed: no bind",
            )
        attempt = Attempt(account_key(user.key if user else None, request.username), request.source_address)
        with self.limiter.turn(attempt) as turn:  # one bind per account at a time, counted before the next
            if turn is not Turn.BIND and not self._known_user_password(turn, request, user, saved_password):
                return self._limited(request, user, saved_password)
            try:
                bound = self.directory.verify_password(request.username, request.password, user)
            except LoginRejected as exc:
                observed = rejection(user, exc)
                if observed.login is Login.WRONG_PASSWORD:
                    memory.remember(scopes, marker, request.password)
                    self.limiter.failed(attempt, typed_name=request.username)
                    observed = replace(observed, counted=True)
                return observed
        return DirectoryAnswer(bound, login=Login.OK)

    def _known_user_password(
        self, turn: Turn, request: ProvisioningRequest, user: DirectoryUser | None, saved_password: bool
    ) -> bool:
        """Over the limit, a new phone still binds with a password one of the user's enrolled
        phones last signed in with (a stranger's failures must not keep the user out)."""
        if turn is not Turn.LIMITED or user is None or saved_password:
            return False
        return self.known_phones.user_knows(user.key, user.password_changed_at, request.password)

    def _limited(
        self, request: ProvisioningRequest, user: DirectoryUser | None, saved_password: bool
    ) -> DirectoryAnswer:
        """Rate limited: no bind. A known phone presenting the password it last signed in with is
        answered quietly (no error on a working phone); anyone else gets the generic failure."""
        known = (
            saved_password
            and user is not None
            and self.known_phones.phone_knows(user.key, request.device_id, user.password_changed_at, request.password)
        )
        return DirectoryAnswer(
            user,
            rate_limited=True,
            known_phone=known,
            avoided="rate_limited",
            detail="too many failed attempts: no bind",
        )

    def _bind_directly(self, request: ProvisioningRequest) -> DirectoryAnswer:
        observed = self._bind(request, None)
        if observed.user is not None:
            refused = refused_before_bind(observed.user, self.entitlement)
            if refused is not None:
                return replace(refused, login=Login.OK)
        return observed

    def _not_found(self, request: ProvisioningRequest, observed: DirectoryAnswer | None = None) -> ProvisioningResult:
        """No entry (or no good bind) for this login. A device this login enrolled is signed out
        when the user is deleted (the directory being sane) or its saved password fails."""
        device = self.store.find_device_by_login(request.username, request.device_id)
        if observed is not None:  # direct mode: the bind itself said why
            return self._decide_and_record(request, observed, device)
        if device is None:
            attempt = Attempt(account_key(None, request.username), request.source_address)
            if not self.limiter.allowed(attempt):
                self.telemetry.bind_avoided("rate_limited")
                self._record_quietly(request, Outcome.RATE_LIMITED, "too many failed attempts")
                return self._answer(refused_before_lookup(rate_limited=True))
            self.telemetry.bind_avoided("unknown_user")  # counted like a refused state: no label tells them apart
            self.limiter.failed(attempt)
            self._record_quietly(request, Outcome.LOGIN_FAILED, "no such user")
            return self._answer(refused_before_lookup(rate_limited=False))
        if not self.directory.canary():
            raise DirectoryUnavailable("user not found, and the canary search found no users either")
        return self._decide_and_record(request, DirectoryAnswer(gone=Gone.DELETED, detail="user deleted"), device)

    # -- deciding and recording ----------------------------------------------------------------

    def _decide_and_record(
        self,
        request: ProvisioningRequest,
        observed: DirectoryAnswer,
        known: Device | None = None,
        snapshot: Device | None = None,
    ) -> ProvisioningResult:
        user_key = observed.user.key if observed.user else known.user_key if known else ""
        call = _Call(request, observed, user_key=user_key)
        if observed.login is Login.OK and observed.gone is None and observed.user is not None:
            call.accounts = self._accounts(request, observed.user)
            if not call.accounts:
                call.observed = replace(observed, gone=Gone.NO_ACCOUNTS)
        # Load the fingerprint keys outside the transaction (loading may write; SQLite allows one writer).
        keys = self.store.fingerprint_keys()
        if snapshot is not None and snapshot.fingerprint_key_id and snapshot.fingerprint_key_id not in keys.keys:
            self.store.fingerprint_keys(refresh=True)  # another instance rotated the key
        unchanged = self._unchanged_without_writing(call, snapshot) if snapshot is not None else None
        verdict = unchanged or self.store.run(lambda tx: self._decide_in(tx, call))
        self._report(call.observed, verdict)
        counted = verdict.outcome is Outcome.LOGIN_FAILED or call.observed.login is Login.WRONG_PASSWORD
        if counted and not (call.observed.repeated or call.observed.counted):
            attempt = Attempt(account_key(call.user_key or None, request.username), request.source_address)
            self.limiter.failed(attempt, typed_name=request.username)
        if call.observed.login is Login.OK and verdict.outcome in _SIGNED_IN and observed.user is not None:
            user = observed.user
            marker = user.password_changed_at
            self.known_phones.remember(user.key, request.device_id, marker, request.password, login=request.username)
        return self._answer(verdict)

    def _decide_in(self, tx: StoreTransaction, call: _Call) -> Verdict:
        """Decide on the locked device record, and record the outcome, in one transaction."""
        device = tx.lock_device(call.user_key, call.request.device_id) if call.user_key else None
        # Only an enrolment of a new phone needs the count: the hot path skips the query.
        others = 0 if _enrolled(device) or not call.user_key else tx.count_enrolled(call.user_key)
        verdict = self.valve.hold_if_tripped(tx, decide(self._facts(call, device, others)))
        self._apply(tx, call, device, verdict)
        return verdict

    def _facts(self, call: _Call, device: Device | None, other_enrolled_devices: int) -> Facts:
        user = call.observed.user
        keys = self.store.fingerprint_keys()
        return Facts(
            reprovision=call.request.reprovision,
            device=device,
            gone=call.observed.gone,
            locked=call.observed.locked,
            rate_limited=call.observed.rate_limited,
            known_phone=call.observed.known_phone,
            password_changed=self.shield and user is not None and password_changed(device, user),
            login=call.observed.login,
            accounts=call.accounts,
            accounts_changed=device is None
            or not keys.matches(call.accounts, device.account_fingerprint, device.fingerprint_key_id),
            other_enrolled_devices=other_enrolled_devices,
            max_devices=self.max_devices,
            sign_out_on_wrong_password=self.shield,
        )

    def _unchanged_without_writing(self, call: _Call, snapshot: Device) -> Verdict | None:
        """The hot path: an enrolled phone whose accounts are unchanged and whose record is fresh is
        answered ``update=false`` from the early look, with no write (last seen is refreshed every
        few minutes, or when anything on the record would change). None: decide in a transaction."""
        user = call.observed.user
        verdict = decide(self._facts(call, snapshot, 0))
        if user is None or verdict.outcome is not Outcome.UNCHANGED:
            return None
        fresh = (
            snapshot.fingerprint_key_id == self.store.fingerprint_keys().current_id
            and snapshot.password_changed_at == user.password_changed_at
            and snapshot.last_source == call.request.source_address[:64]
            and snapshot.last_seen is not None
            and self.now() - snapshot.last_seen < LAST_SEEN_REFRESH
        )
        return verdict if fresh else None

    def _report(self, observed: DirectoryAnswer, verdict: Verdict) -> None:
        if observed.avoided:
            self.telemetry.bind_avoided(observed.avoided)
        if verdict.outcome is Outcome.SIGNED_OUT:
            self.telemetry.signed_out(observed.gone.value if observed.gone else "gone")
        elif verdict.outcome is Outcome.SIGN_IN_AGAIN:
            self.telemetry.signed_out("password")

    def _accounts(self, request: ProvisioningRequest, user: DirectoryUser) -> tuple[SipAccount, ...]:
        mapping = map_accounts(user, self.schema)
        for problem in mapping.problems:
            log.warning("user %r (%s): %s", request.username, user.dn, problem)
        return mapping.accounts

    def _apply(self, tx: StoreTransaction, call: _Call, device: Device | None, verdict: Verdict) -> None:
        if verdict.status is not None and call.user_key:
            tx.save_device(self._updated(tx, call, device, verdict))
        observed = call.observed
        detail = observed.detail or (
            f"bind {observed.login.value}" if observed.login is not Login.NOT_ATTEMPTED else ""
        )
        event = Event(
            at=tx.now,
            outcome=verdict.outcome.value,
            login=call.request.username,
            user_key=call.user_key,
            device_id=call.request.device_id,
            source=call.request.source_address,
            detail=detail,
        )
        if self._counted_only(device, verdict):
            tx.count_event(event)
        else:
            tx.add_event(event)

    @staticmethod
    def _counted_only(device: Device | None, verdict: Verdict) -> bool:
        """A failure anyone can cause that concerns no known device (no record before, none after):
        counted per minute, source and user, not a row of its own (the store stays bounded)."""
        failures = (Outcome.LOGIN_FAILED, Outcome.RATE_LIMITED, Outcome.LOCKED)
        return device is None and verdict.status is None and verdict.outcome in failures

    def _updated(self, tx: StoreTransaction, call: _Call, device: Device | None, verdict: Verdict) -> Device:
        """The device record after this verdict."""
        assert verdict.status is not None
        request, user = call.request, call.observed.user
        base = device or Device(user_key=call.user_key, device_id=request.device_id, status=verdict.status)
        changes: dict[str, object] = {
            "status": verdict.status,
            "login": request.username,
            "last_seen": tx.now,
            "last_source": request.source_address,
        }
        if user is not None:
            changes["user_dn"] = user.dn
        keys = self.store.fingerprint_keys()
        rotated = device is not None and device.fingerprint_key_id != keys.current_id
        if verdict.remember_accounts or (rotated and verdict.outcome is Outcome.UNCHANGED):
            # Unchanged under an older key: re-fingerprint with the current one, re-creating nothing.
            changes.update(account_fingerprint=keys.fingerprint(call.accounts), fingerprint_key_id=keys.current_id)
        if verdict.remember_accounts:
            changes["force_update"] = False
        if verdict.remember_password and user is not None:
            changes["password_changed_at"] = user.password_changed_at
        return replace(base, **changes)  # type: ignore[arg-type]

    def _record_quietly(self, request: ProvisioningRequest, outcome: Outcome, detail: str) -> None:
        """Count a call that changes no device and names no directory user (unknown user, empty
        password, rate limited, directory outage) in the audit trail's per-minute counts; a store
        outage must not change the answer."""
        event = Event(
            at=self.now(),
            outcome=outcome.value,
            login=request.username,
            device_id=request.device_id,
            source=request.source_address,
            detail=detail,
        )
        self.store.count_later(event)  # written off the request path, with the second's other counts

    def _answer(self, verdict: Verdict) -> ProvisioningResult:
        errmsg = getattr(self.messages, verdict.message.value) if verdict.message else ""
        return ProvisioningResult(verdict.update, verdict.accounts, errmsg, verdict.outcome)


def _enrolled(device: Device | None) -> bool:
    return device is not None and device.status is DeviceStatus.ENROLLED
