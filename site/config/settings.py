"""Chapterhouse settings: one module, driven by the environment (12-factor).

With no environment at all this runs the embedded default: SQLite under var/, Celery tasks
in-process, a local-memory cache and mail printed to the console. Production sets
DATABASE_URL, REDIS_URL, EMAIL_BACKEND, SITE_URL, SECRET_KEY, ALLOWED_HOSTS and
DEFAULT_FROM_EMAIL (see docs/DEPLOY.md). Only this module reads os.environ.
"""

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

import dj_database_url

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# ------------------------------------------------------------------------------
# Core
# https://docs.djangoproject.com/en/6.1/ref/settings/#core-settings
# ------------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", default=False)

#: The public origin, used for absolute links in mail and canonical URLs.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
_site = urlsplit(SITE_URL)
if _site.scheme not in {"http", "https"} or not _site.hostname:
    raise ImproperlyConfigured(f"SITE_URL must be an absolute http(s) URL, not {SITE_URL!r}")
SITE_IS_HTTPS = _site.scheme == "https"
SITE_NAME = env_str("SITE_NAME", "Chapterhouse")


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if SITE_IS_HTTPS:
        raise ImproperlyConfigured("SECRET_KEY is required when SITE_URL is https (production).")
    # Embedded default: a random key kept under var/ so signed links survive restarts.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [_site.hostname, "127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [f"{_site.scheme}://{_site.netloc}"])

INSTALLED_APPS = [
    "accounts.apps.StaffAdminConfig",  # django.contrib.admin, with accounts' site as admin.site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "anymail",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "core",
    "accounts",
    "guides",
    "ebooks",
    "mailings",
    "contacts",
    "analytics",
    "campaigns",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "guides.pagecache.PageCacheMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified() for the admin's 2FA
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# ------------------------------------------------------------------------------
# Templates: one tree under templates/; APP_DIRS for the admin and third-party apps
# https://docs.djangoproject.com/en/6.1/ref/settings/#templates
# ------------------------------------------------------------------------------
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.site",
            ],
        },
    },
]

# ------------------------------------------------------------------------------
# Database: DATABASE_URL (PostgreSQL in production), SQLite under var/ by default
# https://github.com/jazzband/dj-database-url
# ------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)

# ------------------------------------------------------------------------------
# Redis: Celery broker and cache. Unset: tasks run in-process, local-memory cache.
# ------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "core.cache.PooledRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "ch",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# https://docs.celeryq.dev/en/stable/userguide/configuration.html
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = not REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
#: Celery's Django fixup closes every database connection before and after each task unless
#: this is set (a new PostgreSQL connection per task); with it, a connection is forced closed
#: only every this many tasks, and tasks/celery.py applies CONN_MAX_AGE and the health checks
#: around each task as Django does around a request.
CELERY_DB_REUSE_MAX = 1000
#: Redis redelivers unacked tasks after this; every time limit stays well below it.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "socket_timeout": 1,
    "socket_connect_timeout": 1,
    # Connecting to publish: one quick retry, then give up (the row waits for the sweeper).
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
#: A worker that loses the broker reconnects for as long as it takes (Celery's default gives up
#: after 100 tries, about 45 minutes, and exits); supervision restarts it either way.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
#: Tasks running when the broker connection drops finish (their ack is lost with the old
#: connection; the broker or the sweepers deliver them again, and every task is idempotent).
#: Stated because Celery 5 warns at every reconnect until it is set.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
#: Publishing never hangs a request: one quick attempt, the sweeper catches the rest.
CELERY_TASK_PUBLISH_RETRY = False
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_TIME_LIMIT = 300
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env_int("CELERY_WORKER_MAX_MEMORY_PER_CHILD", 400_000)  # KiB
CELERY_TASK_DEFAULT_QUEUE = "default"
#: Queues by kind of work: `mail` is I/O-bound (run it with a thread pool), `pdf` is CPU- and
#: memory-heavy (one process per core, recycled). See Procfile and docs/DEPLOY.md.
CELERY_TASK_ROUTES = {
    "mailings.mail_send": {"queue": "mail"},
    "mailings.mails_send_batch": {"queue": "mail"},
    "ebooks.*": {"queue": "pdf"},
}

# ------------------------------------------------------------------------------
# Mail: Django 6.1 MAILERS fed from EMAIL_BACKEND (Anymail ESP or SMTP)
# https://anymail.dev/en/stable/esps/   https://docs.djangoproject.com/en/6.1/topics/email/
# ------------------------------------------------------------------------------
EMAIL_BACKEND_PATH = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
_mailer_options: dict[str, object] = {}
if EMAIL_BACKEND_PATH == "django.core.mail.backends.smtp.EmailBackend":
    _mailer_options = {
        "host": env_str("EMAIL_HOST", "localhost"),
        "port": env_int("EMAIL_PORT", 25),
        "username": env_str("EMAIL_HOST_USER"),
        "password": env_str("EMAIL_HOST_PASSWORD"),
        "use_tls": env_bool("EMAIL_USE_TLS", default=False),
        "use_ssl": env_bool("EMAIL_USE_SSL", default=False),
        "timeout": env_int("EMAIL_TIMEOUT", 10),
    }
MAILERS = {"default": {"BACKEND": EMAIL_BACKEND_PATH, "OPTIONS": _mailer_options}}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Chapterhouse <hello@localhost>")
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
#: CAN-SPAM: every marketing mail shows the sender's postal address.
MAIL_POSTAL_ADDRESS = env_str("MAIL_POSTAL_ADDRESS", "Chapterhouse, 1 Example Street, Springfield")
#: A SENDING row whose claim is older than this is presumed dead (worker killed) and retried.
#: Keep it above the mail task's hard time limit.
MAIL_CLAIM_TIMEOUT = env_int("MAIL_CLAIM_TIMEOUT", 180)
#: A QUEUED row not picked up after this many seconds is published again by the sweeper.
MAIL_REQUEUE_AFTER = env_int("MAIL_REQUEUE_AFTER", 120)
MAIL_MAX_ATTEMPTS = env_int("MAIL_MAX_ATTEMPTS", 8)
#: Recipients per batch (one ESP API call) where the ESP batches (mailings.esp); capped by the
#: ESP's own limit (Postmark 500, SendGrid 1,000, Mailjet 50). https://anymail.dev/en/stable/sending/templates/#batch-send
MAIL_BATCH_SIZE = env_int("MAIL_BATCH_SIZE", 500)
#: Messages per second to the ESP, shared by every worker on every host through Redis
#: (mailings.ratelimit); 0 = no limit of our own (the ESP's 429s still back off).
MAIL_SEND_RATE = env_float("MAIL_SEND_RATE", 0.0)
#: A batch whose turn under MAIL_SEND_RATE is further away than this many seconds goes back to
#: the queue and retries instead of holding a worker thread.
MAIL_RATE_MAX_WAIT = env_float("MAIL_RATE_MAX_WAIT", 20.0)
#: Accepted public forms (core.intake): a row still waiting this many seconds after its last
#: publish is published again by the sweeper, until it has failed this many times.
SUBMISSION_REQUEUE_AFTER = env_int("SUBMISSION_REQUEUE_AFTER", 60)
SUBMISSION_MAX_ATTEMPTS = env_int("SUBMISSION_MAX_ATTEMPTS", 8)
#: Seconds a "drain queued" flag lives if its task never starts (then the next form publishes).
SUBMISSION_WAKE_TTL = env_int("SUBMISSION_WAKE_TTL", 10)
#: A queue's heartbeat (beat publishes one a minute, a worker records it) older than this many
#: seconds is reported stale by `manage.py health`, /readyz and the admin dashboard.
HEARTBEAT_STALE_AFTER = env_int("HEARTBEAT_STALE_AFTER", 300)


#: Every ANYMAIL_<NAME> environment variable becomes ANYMAIL["<NAME>"] (ESP credentials such as
#: ANYMAIL_POSTMARK_SERVER_TOKEN, ANYMAIL_MAILGUN_API_KEY, API URLs, webhook keys).
#: ANYMAIL_WEBHOOK_SECRET is a comma-separated list ("user:pass,new-user:new-pass") for rotation.
def _anymail_value(raw: str) -> object:
    """Numbers and booleans from the environment become numbers and booleans (timeouts…)."""
    text = raw.strip()
    if text.lower() in {"true", "false"}:
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return raw


ANYMAIL: dict[str, object] = {
    key.removeprefix("ANYMAIL_"): _anymail_value(value)
    for key, value in os.environ.items()
    if key.startswith("ANYMAIL_") and key != "ANYMAIL_WEBHOOK_SECRET"
}
if env_list("ANYMAIL_WEBHOOK_SECRET", []):
    ANYMAIL["WEBHOOK_SECRET"] = env_list("ANYMAIL_WEBHOOK_SECRET", [])

# ------------------------------------------------------------------------------
# Static files (WhiteNoise) and media storage
# https://whitenoise.readthedocs.io/
# ------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(VAR_DIR / "media")},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_MAX_AGE = 3600

# ------------------------------------------------------------------------------
# Content (guides under content/)
# ------------------------------------------------------------------------------
CONTENT_DIR = Path(env_str("CONTENT_DIR", str(BASE_DIR / "content")))
#: Files whose bytes change the eBook (beside the guide's own files).
EBOOK_TEMPLATE_DIR = BASE_DIR / "templates" / "ebooks"
FONT_DIR = BASE_DIR / "site" / "core" / "static" / "fonts"
#: Seconds a CDN or browser may reuse an anonymous page.
PAGE_MAX_AGE = env_int("PAGE_MAX_AGE", 300)
#: Seconds a rendered page stays in the server-side page cache (keys carry the content version).
PAGE_CACHE_SECONDS = env_int("PAGE_CACHE_SECONDS", 3600)
#: Callables returning short strings that a cached page depends on besides the content.
PAGE_FRAGMENT_VERSIONS: list[str] = ["contacts.selectors.subscriber_count_label"]

# ------------------------------------------------------------------------------
# Security
# https://docs.djangoproject.com/en/6.1/ref/middleware/#module-django.middleware.security
# ------------------------------------------------------------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=SITE_IS_HTTPS)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if SITE_IS_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = SITE_IS_HTTPS
CSRF_COOKIE_SECURE = SITE_IS_HTTPS
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = 1_048_576
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# ------------------------------------------------------------------------------
# Logging: to stdout; addresses are masked by core.logging.MaskEmailFilter
# ------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_email": {"()": "core.logging.MaskEmailFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["mask_email"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# ------------------------------------------------------------------------------
# eBooks: rendered by WeasyPrint in Celery, cached per content version in default_storage
# https://doc.courtbouillon.org/weasyprint/stable/   docs/decisions/0003-ebook-rendering.md
# ------------------------------------------------------------------------------
#: Seconds a caller waits for another process's render of the same version (then EbookBusyError).
EBOOK_RENDER_WAIT_SECONDS = env_int("EBOOK_RENDER_WAIT_SECONDS", 120)
#: Soft and hard time limits of the `ebooks.ebook_render` task (a wait plus one render).
EBOOK_TASK_SOFT_TIME_LIMIT = env_int("EBOOK_TASK_SOFT_TIME_LIMIT", 180)
EBOOK_TASK_TIME_LIMIT = env_int("EBOOK_TASK_TIME_LIMIT", 210)
#: TTL of the single-flight render lock: above the hard limit, so it never expires while its
#: holder is alive, and a killed renderer blocks the version for at most this long.
EBOOK_LOCK_SECONDS = env_int("EBOOK_LOCK_SECONDS", 300)
#: Days an old version's PDF stays downloadable after a newer version replaced it.
EBOOK_KEEP_DAYS = env_int("EBOOK_KEEP_DAYS", 30)
if EBOOK_LOCK_SECONDS <= EBOOK_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("EBOOK_LOCK_SECONDS must be longer than EBOOK_TASK_TIME_LIMIT.")
#: "Get the PDF": at most one delivery mail per guide and address per this many hours; a
#: request inside the window gets the same "check your inbox" answer and nothing is sent.
EBOOK_DELIVERY_LIMIT_HOURS = env_int("EBOOK_DELIVERY_LIMIT_HOURS", 24)
#: The delivery mail carries the PDF up to this size (bytes); a bigger one gets the link only.
EBOOK_ATTACH_MAX_BYTES = env_int("EBOOK_ATTACH_MAX_BYTES", 5 * 1024 * 1024)
#: Seconds a mailed download link works; older links answer 410 with a way to ask again.
EBOOK_LINK_MAX_AGE = env_int("EBOOK_LINK_MAX_AGE", 30 * 86_400)
#: An undelivered request is published again by the sweeper this many seconds after its last
#: publish (above EBOOK_TASK_TIME_LIMIT, so a render still running is not doubled) ...
EBOOK_REQUEUE_AFTER = env_int("EBOOK_REQUEUE_AFTER", 300)
#: ... and at most this many publishes in all; then it waits for the admin's "deliver again".
EBOOK_REQUEUE_MAX = env_int("EBOOK_REQUEUE_MAX", 6)

# ------------------------------------------------------------------------------
# Contacts: newsletter signup (double opt-in) and public-form abuse protection
# docs/decisions/0001-public-forms-without-csrf-cookie.md
# ------------------------------------------------------------------------------
#: Trusted reverse proxies in front of gunicorn that append to X-Forwarded-For; the client
#: IP is the NUM_PROXIES-th entry from the right. 0: X-Forwarded-For is ignored (REMOTE_ADDR).
NUM_PROXIES = env_int("NUM_PROXIES", 0)
#: A public form sent sooner than this after its page was rendered is dropped quietly (bots).
PUBLIC_FORM_MIN_SECONDS = env_int("PUBLIC_FORM_MIN_SECONDS", 2)
#: ... and one rendered longer ago than this (keep above PAGE_CACHE_SECONDS + PAGE_MAX_AGE).
PUBLIC_FORM_MAX_AGE = env_int("PUBLIC_FORM_MAX_AGE", 2 * 86_400)
#: Per-IP fixed-window rate limit on public form POSTs: this many per window (0: off) ...
PUBLIC_FORM_RATE_LIMIT = env_int("PUBLIC_FORM_RATE_LIMIT", 10)
#: ... per this many seconds. Over it: a 429 page with Retry-After.
PUBLIC_FORM_RATE_WINDOW = env_int("PUBLIC_FORM_RATE_WINDOW", 600)
#: Seconds a confirmation link works; older links answer 410 with a "send a new link" button.
CONTACTS_CONFIRM_MAX_AGE = env_int("CONTACTS_CONFIRM_MAX_AGE", 7 * 86_400)
#: At most one confirmation mail per address per this many seconds (checked in the database).
CONTACTS_CONFIRMATION_COOLDOWN = env_int("CONTACTS_CONFIRMATION_COOLDOWN", 600)
#: Never-confirmed signups (and their IPs) are deleted this many days after the last request.
CONTACTS_UNCONFIRMED_RETENTION_DAYS = env_int("CONTACTS_UNCONFIRMED_RETENTION_DAYS", 30)
#: Seconds the "Join N+" label is cached (a page view never counts subscribers itself).
CONTACTS_COUNT_CACHE_SECONDS = env_int("CONTACTS_COUNT_CACHE_SECONDS", 60)

# ------------------------------------------------------------------------------
# Staff accounts: admin sign-in throttling, two-factor authentication, roles
# site/accounts/, docs/SECURITY.md   https://django-otp-official.readthedocs.io/
# ------------------------------------------------------------------------------
#: Staff need a TOTP code (django-otp) to use the admin: on by default on an https SITE_URL,
#: off in the embedded default so `make run` stays a two-command start.
#: Enrol a staff member with `manage.py otp_enrol <username>`.
STAFF_REQUIRE_2FA = env_bool("STAFF_REQUIRE_2FA", default=SITE_IS_HTTPS)
#: Failed admin sign-ins allowed per username, and per client IP, within LOGIN_FAILURE_WINDOW
#: seconds; the next failure pauses sign-in for that username or IP for LOGIN_COOLOFF_SECONDS
#: (never longer: there is no permanent lockout). Counted in the cache; fails open without it.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_FAILURE_LIMIT_PER_IP = env_int("LOGIN_FAILURE_LIMIT_PER_IP", 20)
LOGIN_FAILURE_WINDOW = env_int("LOGIN_FAILURE_WINDOW", 900)
LOGIN_COOLOFF_SECONDS = env_int("LOGIN_COOLOFF_SECONDS", 900)
#: The issuer shown in authenticator apps.
OTP_TOTP_ISSUER = SITE_NAME
#: The device admin never shows an existing device's secret key or QR code again.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
