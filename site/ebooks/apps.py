from django.apps import AppConfig


class EbooksConfig(AppConfig):
    name = "ebooks"
    verbose_name = "eBooks"

    def ready(self) -> None:
        from core import intake
        from ebooks import services

        intake.handler_register(services.EBOOK_REQUEST_KIND, services.ebook_request_process)
