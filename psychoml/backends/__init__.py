"""psychoml.backends (public API re-exported here)."""

__all__: list[str] = []
