"""The one error type the engine raises for anything a user can fix: its message says what to do."""


class ExplorerError(ValueError):
    """Bad input, infeasible budget, corrupt or missing data — explained, never a traceback in the UI."""


class RunCancelled(Exception):
    """Raised inside training when the cancel flag is set; nothing is recorded."""


def is_cancelled(cancel) -> bool:
    """`cancel` is None, a threading.Event or a callable returning bool."""
    if cancel is None:
        return False
    return bool(cancel.is_set() if hasattr(cancel, "is_set") else cancel())
