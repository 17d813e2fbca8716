"""Typed exceptions. Library code raises these; only the CLI turns them into exit codes."""

from __future__ import annotations


class SentinelError(Exception):
    """Base class of every error Sentinel raises on purpose."""


class InputError(SentinelError):
    """Bad input: a missing file, an unknown column, an invalid option value (exit code 2)."""


class SchemaError(InputError):
    """The data does not have the shape an operation needs."""
