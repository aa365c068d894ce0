"""Errors a user can act on.  The CLI prints their message without a traceback."""


class TrdSparkError(Exception):
    """Base class: a problem with the user's input or setup, explained in the message."""


class InputError(TrdSparkError, ValueError):
    """An input file, table or column that cannot be used; the message says where and what to do."""
