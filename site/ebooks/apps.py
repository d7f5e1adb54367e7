from django.apps import AppConfig


class EbooksConfig(AppConfig):
    name = "ebooks"
    verbose_name = "eBooks"
