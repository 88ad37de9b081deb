"""The one error a template raises: what is wrong, where (a path into the template)."""

from __future__ import annotations


class TemplateError(Exception):
    """`path: message`, the path in the template's own spelling (`Resources.Fn.Properties.Handler`).

    Raised for anything that stops the template from becoming a poller configuration; the CLI
    prints every one it collected and exits 2.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message
