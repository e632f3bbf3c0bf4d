"""Errors that Vigil reports to people: a message and, where useful, what to do about it."""

from __future__ import annotations


class VigilError(Exception):
    """An expected failure with a clear message; the CLI prints it without a traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InputError(VigilError):
    """Bad input from the user: an unreadable image, a malformed file, a wrong argument."""

    exit_code = 2


class ConfigError(VigilError):
    """vigil.yaml does not validate."""

    exit_code = 2


class NotFoundError(VigilError):
    """A named thing (person, camera, gallery) does not exist."""

    exit_code = 3


class ConflictError(VigilError):
    """The request clashes with what is stored: done already, or by the same person twice."""

    exit_code = 4
