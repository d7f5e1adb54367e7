class AppError(Exception):
    """A rule of the application was broken; the message is safe to show to the user."""
