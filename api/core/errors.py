"""Base of every error raised by the framework-free core."""


class CoreError(Exception):
    code = "core_error"
    default_message = "The operation failed."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)
