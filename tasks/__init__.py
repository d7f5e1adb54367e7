"""Celery app and task modules (thin wrappers around services in site/)."""

from tasks.celery import app

__all__ = ["app"]
