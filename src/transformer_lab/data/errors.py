"""The one exception type for problems a user can cause with their data or data config."""


class DataError(ValueError):
    """Bad input data or data config. The message says what was wrong, where, and how to fix it."""
