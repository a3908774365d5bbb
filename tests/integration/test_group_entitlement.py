"""Who gets a phone: required and denied groups, nested, against the real servers (DESIGN §4).

AD evaluates nesting itself (LDAP_MATCHING_RULE_IN_CHAIN, 1.2.840.113556.1.4.1941, the
active-directory preset's ``group_membership = "in-chain"``). OpenLDAP's memberof overlay
records direct groups only; the dynlist overlay computes memberOf at search time, nested groups
included. A user who is not entitled gets the generic answer, whatever the password: nothing is
revealed before the password is proven, and no bind is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .gateway_under_test import LOGIN_FAILED, PhoneFor, ad_lines, ad_settings, answer, openldap_lines, openldap_settings

if TYPE_CHECKING:
    from gateway.settings import StoreSettings

    from .conftest import OpenLdapServer, SambaServer
    from .directory_admin import AdSandbox, OpenLdapSandbox


# ---------------------------------------------------------------- Active Directory (Samba)


def test_ad_member_of_a_group_nested_in_the_required_group_gets_a_phone(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor
) -> None:
    # bob is a direct member of sip-ops only; sip-ops is a member of sip-users.
    phone = phone_for(ad_settings(samba, store_settings, required_groups=(samba.group_dn("sip-users"),)))
    body = phone.provision("bob", samba.password("bob"), reprovision=False)
    assert body == answer(True, accounts=ad_lines("1002", "s3cr3t-bob", "91002"))


def test_ad_membership_three_levels_deep_is_found(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, ad_sandbox: AdSandbox
) -> None:
    innermost = ad_sandbox.group()
    middle = ad_sandbox.group(innermost)
    required = ad_sandbox.group(middle)
    user = ad_sandbox.user("5101", groups=[innermost])
    phone = phone_for(ad_settings(samba, store_settings, required_groups=(required,)))
    body = phone.provision(user.upn, user.password, reprovision=False)
    assert body == answer(True, accounts=ad_lines("5101", user.secret))


def test_ad_user_outside_the_required_group_gets_the_generic_answer_and_no_bind(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, ad_sandbox: AdSandbox
) -> None:
    required = ad_sandbox.group()
    outsider = ad_sandbox.user("5102")
    phone = phone_for(ad_settings(samba, store_settings, required_groups=(required,)))
    assert phone.provision(outsider.name, outsider.password, reprovision=False) == LOGIN_FAILED
    assert phone.provision(outsider.name, "Wrong-Pass1", reprovision=False) == LOGIN_FAILED
    assert ad_sandbox.bad_password_count(outsider) == 0  # refused from the search: no bind at all


def test_ad_member_of_a_denied_group_nested_anywhere_gets_the_generic_answer(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, ad_sandbox: AdSandbox
) -> None:
    contractors = ad_sandbox.group()
    denied = ad_sandbox.group(contractors)
    user = ad_sandbox.user("5103", groups=[contractors])
    required = ad_sandbox.group(user.dn)
    phone = phone_for(ad_settings(samba, store_settings, required_groups=(required,), denied_groups=(denied,)))
    assert phone.provision(user.name, user.password, reprovision=False) == LOGIN_FAILED
    ad_sandbox.remove_member(contractors, user.dn)
    body = phone.provision(user.name, user.password, reprovision=False)
    assert body == answer(True, accounts=ad_lines("5103", user.secret))


# ---------------------------------------------------------------- OpenLDAP


def test_openldap_direct_member_of_the_required_group_gets_a_phone(
    openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor
) -> None:
    phone = phone_for(openldap_settings([openldap], store_settings, required_groups=(openldap.group_dn("sip-users"),)))
    body = phone.provision("alice", openldap.password("alice"), reprovision=False)
    assert body == answer(True, accounts=openldap_lines("1001", "s3cr3t-alice", "2001"))


def test_openldap_memberof_overlay_sees_direct_groups_only(
    openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor
) -> None:
    # bob is in sip-users only through sip-ops: the overlay does not record that, so listing the
    # nested group itself among the required groups is the way to entitle its members.
    only_outer = openldap_settings([openldap], store_settings, required_groups=(openldap.group_dn("sip-users"),))
    assert phone_for(only_outer).provision("bob", openldap.password("bob"), reprovision=False) == LOGIN_FAILED
    both = openldap_settings(
        [openldap], store_settings, required_groups=(openldap.group_dn("sip-users"), openldap.group_dn("sip-ops"))
    )
    body = phone_for(both).provision("bob", openldap.password("bob"), reprovision=False)
    assert body == answer(True, accounts=openldap_lines("1002", "s3cr3t-bob"))


def test_openldap_dynlist_entitles_members_of_nested_groups(
    dynlist_openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor
) -> None:
    settings = openldap_settings(
        [dynlist_openldap], store_settings, required_groups=(dynlist_openldap.group_dn("sip-users"),)
    )
    body = phone_for(settings).provision("bob", dynlist_openldap.password("bob"), reprovision=False)
    assert body == answer(True, accounts=openldap_lines("1002", "s3cr3t-bob"))


def test_openldap_user_outside_the_required_group_gets_the_generic_answer(
    openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor, openldap_sandbox: OpenLdapSandbox
) -> None:
    member = openldap_sandbox.user("5104")
    required = openldap_sandbox.group(member.dn)
    outsider = openldap_sandbox.user("5105")
    phone = phone_for(openldap_settings([openldap], store_settings, required_groups=(required,)))
    assert phone.provision(outsider.uid, outsider.password, reprovision=False) == LOGIN_FAILED
    body = phone.provision(member.uid, member.password, reprovision=False)
    assert body == answer(True, accounts=openldap_lines("5104", member.secret))


def test_openldap_member_of_a_denied_group_gets_the_generic_answer(
    openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor, openldap_sandbox: OpenLdapSandbox
) -> None:
    user = openldap_sandbox.user("5106")
    denied = openldap_sandbox.group(user.dn)
    phone = phone_for(openldap_settings([openldap], store_settings, denied_groups=(denied,)))
    assert phone.provision(user.uid, user.password, reprovision=False) == LOGIN_FAILED
