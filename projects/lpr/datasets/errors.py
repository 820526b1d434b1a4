"""The error every LPR4M annotation parser raises."""
from typing import Optional


class AnnotationError(ValueError):
    """A malformed annotation; the message starts with ``file:line``."""

    def __init__(self, path: str, line: Optional[int], message: str):
        self.path = path
        self.line = line
        where = f'{path}:{line}' if line is not None else path
        super().__init__(f'{where}: {message}')
