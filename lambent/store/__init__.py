"""Durable state; the only package that writes SQL."""

from lambent.store.db import FunctionRow, Store

__all__ = ["FunctionRow", "Store"]
