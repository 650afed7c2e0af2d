"""The audit trail's view of staff accounts and their groups (no table of their own)."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from clinic.audit.events import audited


# Staff accounts and their roles (group membership) are on the trail too. User and its
# groups table belong to django.contrib.auth, so they are tracked through proxy models
# declared here, as pgtrigger documents for third-party models: the event tables and the
# triggers on auth_user and auth_user_groups are then in this app's migrations, never in
# auth's. Names, email and the password hash are never stored; a sign-in (last_login) is
# not a change. The proxies carry no permissions of their own: nothing else uses them.
@audited(
    personal=["first_name", "last_name", "email"],
    skip=["password", "last_login"],
    model_name="UserEvent",
)
class StaffUser(get_user_model()):
    """A staff account (``auth.User``), tracked for the audit trail."""

    class Meta:
        proxy = True
        default_permissions = ()


@audited(model_name="UserGroupsEvent")
class StaffUserGroups(get_user_model().groups.through):
    """A staff account's role (``auth_user_groups``), tracked for the audit trail."""

    class Meta:
        proxy = True
        default_permissions = ()
