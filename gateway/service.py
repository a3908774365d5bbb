"""The provisioning decision (DESIGN §3), in plain Python: no HTTP, no LDAP, no SQL here.

Until the device-state issue lands, every successful login answers ``update=true`` with the
accounts, whatever ``reprovision`` says: the app re-creates its accounts on each start
(harmless, and always correct). Failed logins, outages and account problems follow the table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gateway.directory import Directory
from gateway.entitlement import Entitlement
from gateway.errors import (
    AccountDisabled,
    AccountExpired,
    AccountLocked,
    DirectoryUnavailable,
    InvalidCredentials,
    LoginRejected,
    NotEntitled,
    PasswordExpired,
    PasswordMustChange,
)
from gateway.mapping.mapper import map_accounts
from gateway.mapping.spec import AttributeSchema
from gateway.models import DirectoryUser, Outcome, ProvisioningRequest, ProvisioningResult
from gateway.settings import MessagesSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProvisioningService:
    directory: Directory
    schema: AttributeSchema
    entitlement: Entitlement
    messages: MessagesSettings

    def provision(self, request: ProvisioningRequest) -> ProvisioningResult:
        """Answer one call from the app; never raises for a business outcome."""
        if not request.password.strip():
            return self._login_failed(request, "empty password (no directory call made)")
        try:
            user = self._login(request)
        except PasswordMustChange:
            return self._answer(Outcome.PASSWORD_MUST_CHANGE, self.messages.password_must_change)
        except PasswordExpired:
            return self._answer(Outcome.PASSWORD_EXPIRED, self.messages.password_expired)
        except LoginRejected as exc:
            return self._login_failed(request, f"{type(exc).__name__}: {exc}")
        except DirectoryUnavailable as exc:
            log.warning("directory unavailable for %r: %s", request.username, exc)
            return self._answer(Outcome.UNAVAILABLE, self.messages.unavailable)
        return self._accounts_for(request, user)

    def _login(self, request: ProvisioningRequest) -> DirectoryUser:
        """Search, refuse what the search already rules out (no bind), then bind."""
        found = None
        if self.directory.searches_before_bind:
            found = self.directory.find_user(request.username)
            if found is None:
                raise InvalidCredentials("no such user")
            self._refuse_before_bind(found)
        user = self.directory.verify_password(request.username, request.password, found)
        if found is None:
            self._refuse_before_bind(user)
        return user

    def _refuse_before_bind(self, user: DirectoryUser) -> None:
        """States the caller must not learn about: answered like a wrong password, no bind made."""
        if user.state.disabled:
            raise AccountDisabled("disabled in the directory")
        if user.state.locked:
            raise AccountLocked("locked in the directory")
        if user.state.expired:
            raise AccountExpired("account expired")
        if not self.entitlement.allows(user):
            raise NotEntitled("not in a required group, or in a denied group")

    def _accounts_for(self, request: ProvisioningRequest, user: DirectoryUser) -> ProvisioningResult:
        mapping = map_accounts(user, self.schema)
        for problem in mapping.problems:
            log.warning("user %r (%s): %s", request.username, user.dn, problem)
        if not mapping.accounts:
            return self._answer(Outcome.NO_ACCOUNTS, self.messages.no_accounts)
        return ProvisioningResult(True, mapping.accounts, "", Outcome.ENROLLED)

    def _login_failed(self, request: ProvisioningRequest, reason: str) -> ProvisioningResult:
        log.info("login failed for %r: %s", request.username, reason)
        return self._answer(Outcome.LOGIN_FAILED, self.messages.login_failed)

    @staticmethod
    def _answer(outcome: Outcome, errmsg: str) -> ProvisioningResult:
        return ProvisioningResult(False, (), errmsg, outcome)
