"""The base of every domain error: a message meant for the person who caused it."""


class DomainError(Exception):
    """A rule said no. Views flash ``str(error)``; CLI commands print it and exit non-zero."""
