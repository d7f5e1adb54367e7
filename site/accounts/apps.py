"""Staff accounts: the admin site (login throttling, two-factor), roles, their commands.

Two app configs live here. `AccountsConfig` is the app itself (commands, checks).
`StaffAdminConfig` replaces "django.contrib.admin" in INSTALLED_APPS so that the default
`admin.site`, on which every app registers its ModelAdmins, is accounts.admin_site.StaffAdminSite.
"""

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    default = True
    name = "accounts"
    verbose_name = "Staff accounts"

    def ready(self) -> None:
        from accounts import checks  # noqa: F401 - registers the system checks


class StaffAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with our site class as `admin.site` (same name, same URLs)."""

    default = False
    default_site = "accounts.admin_site.StaffAdminSite"
