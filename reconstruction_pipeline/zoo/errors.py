"""The zoo's one error type: a bad zoo name, generator spec, plugin or checkpoint, said in one line."""

from __future__ import annotations


class ZooError(ValueError):
    """A zoo, generator, plugin or checkpoint cannot be used; the message says what and what to do."""
