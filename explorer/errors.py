"""The one error type the engine raises for anything a user can fix: its message says what to do."""


class ExplorerError(ValueError):
    """Bad input, infeasible budget, corrupt or missing data — explained, never a traceback in the UI."""
