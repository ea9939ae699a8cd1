"""Gate exceptions, in a module without numpy so the plugin can import them cheaply."""

from __future__ import annotations


class GateConfigError(Exception):
    """The gate configuration is broken; gates report ERROR rather than guess."""


class GateSourceError(Exception):
    """The metric source is broken or unreadable; the gate reports ERROR."""
