"""The two ways a request ends early: an error API Gateway itself answers (shaped by the API's gateway responses),
and a configuration the emulator does not emulate (a plain, clear 500)."""

from __future__ import annotations


class GatewayError(Exception):
    """An error answered by API Gateway, not the back end: `response_type` is the GatewayResponseType whose
    gateway response shapes the answer; `message` is `$context.error.message`."""

    def __init__(self, response_type: str, message: str, validation_error: str = "") -> None:
        super().__init__(message)
        self.response_type = response_type
        self.message = message
        self.validation_error = validation_error  # $context.error.validationErrorString


class EmulatorError(Exception):
    """The emulator cannot serve the request faithfully: answered with 500 `{"message": "mlops emulator: ..."}`,
    outside the API's gateway responses (which might themselves be what cannot be rendered)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = f"mlops emulator: {message}"


class NotSupported(EmulatorError):
    """Part of the API's configuration that API Gateway supports and the emulator does not emulate."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} is not supported by the emulated API Gateway (it serves what `mlops gateway apply` creates)"
        )
