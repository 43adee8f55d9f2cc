"""Errors of model invocation, one family for every provider.

Providers translate HTTP statuses, provider error bodies and transport failures into these classes, with the
provider's own message prefixed by `[provider] Error: `. `retryable` drives retries, fallbacks and the circuit
breaker (see resilience.py). Like Dify, every model error carries the wire code `completion_request_error`, except
an exhausted provider quota (`provider_quota_exceeded`).
"""

from __future__ import annotations

from api.core.errors import CoreError


class InvokeError(CoreError):
    code = "completion_request_error"
    default_message = "The model request failed."
    retryable = False

    def __init__(self, message: str | None = None, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class InvokeAuthorizationError(InvokeError):
    default_message = "Incorrect API key provided"


class InvokeRateLimitError(InvokeError):
    default_message = "The model provider's rate limit was reached."
    retryable = True


class InvokeQuotaExceededError(InvokeError):
    code = "provider_quota_exceeded"
    default_message = "The model provider's quota is exhausted."


class InvokeConnectionError(InvokeError):
    default_message = "Could not reach the model provider."
    retryable = True


class InvokeServerUnavailableError(InvokeError):
    default_message = "The model provider is unavailable."
    retryable = True


class InvokeBadRequestError(InvokeError):
    default_message = "The model provider rejected the request."


class ProviderNotSupportedError(InvokeBadRequestError):
    default_message = "Unknown model provider."


def error_for_status(
    provider: str, status: int, message: str, *, code: str | None = None, error_type: str | None = None
) -> InvokeError:
    """Map an HTTP error response of any provider to the InvokeError family.

    401/403 → authorization; 429 → quota exceeded when the provider says `insufficient_quota`, else rate limit;
    408 → connection; 5xx (incl. Anthropic's 529) → server unavailable; other 4xx (400/404/413/422…) → bad request.
    """
    text = f"[{provider}] Error: {message or f'HTTP {status}'}"
    markers = {code or "", error_type or ""}
    if status in (401, 403) or markers & {"authentication_error", "permission_error", "invalid_api_key"}:
        if "Incorrect API key provided" not in text:
            text = f"[{provider}] Error: Incorrect API key provided ({message or f'HTTP {status}'})"
        return InvokeAuthorizationError(text, status_code=status)
    if status == 429 or "rate_limit_error" in markers or "rate_limit_exceeded" in markers:
        if "insufficient_quota" in markers:
            return InvokeQuotaExceededError(text, status_code=status)
        return InvokeRateLimitError(text, status_code=status)
    if status == 408:
        return InvokeConnectionError(text, status_code=status)
    if status >= 500 or "overloaded_error" in markers or "api_error" in markers:
        return InvokeServerUnavailableError(text, status_code=status)
    return InvokeBadRequestError(text, status_code=status)
