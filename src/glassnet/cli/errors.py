"""The command line's one error type: a user's mistake, reported as one line without a traceback."""


class UsageError(Exception):
    """A mistake in how glassnet was called: reported as one line, without a traceback."""
