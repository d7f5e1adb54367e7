from django.apps import AppConfig


class MailingsConfig(AppConfig):
    name = "mailings"
    verbose_name = "Mail delivery"

    def ready(self) -> None:
        from mailings import receivers  # noqa: F401 - connects Anymail's tracking signal
