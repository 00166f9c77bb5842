"""Errors of the local network runner."""


class NetworkError(Exception):
    """A problem the user can act on; its message names the problem and nothing is left running."""
