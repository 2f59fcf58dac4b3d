"""The one error the knowledge loader raises: a knowledge file the service must not run with."""

from __future__ import annotations


class KnowledgeError(ValueError):
    """A problem in `cards/`; the message names the file and the field path.

    Example: ``cards/variants.yaml: variants.prior-vcf.ratings.3.category: Must be one of ...``
    """

    def __init__(self, file: str, path: str, message: str) -> None:
        self.file = file
        self.path = path
        self.problem = message
        super().__init__(f"{file}: {path}: {message}" if path else f"{file}: {message}")
