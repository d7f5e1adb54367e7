from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Contacts and newsletter"

    def ready(self) -> None:
        from contacts import checks, selectors, services  # noqa: F401 - checks registers system checks
        from core import intake
        from mailings import consent

        intake.handler_register(services.SIGNUP_KIND, services.signup_process)
        consent.marketing_gate_register(selectors.marketing_refusals)
