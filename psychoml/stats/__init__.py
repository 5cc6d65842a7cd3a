"""Statistics: reliability, generalizability theory, factor structure and validity."""

__all__: list[str] = []
