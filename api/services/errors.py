"""Expected failures of use cases.

Services raise these and never raise HTTP exceptions; the only translation to HTTP lives in
api/controllers/errors.py (a table keyed by the bases below). `code` values are part of the
public wire format and match Dify's where Dify has an equivalent.
"""

from __future__ import annotations


class ServiceError(Exception):
    code = "service_error"
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


# ---- bases (each maps to one HTTP status) -------------------------------------------------
class InvalidInputError(ServiceError):
    code = "invalid_param"
    default_message = "Invalid parameter."

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnauthorizedError(ServiceError):
    code = "unauthorized"
    default_message = "Unauthorized."


class PermissionDeniedError(ServiceError):
    code = "forbidden"
    default_message = "You do not have permission to perform this action."


class NotFoundError(ServiceError):
    code = "not_found"
    default_message = "Resource not found."


class ConflictError(ServiceError):
    code = "conflict"
    default_message = "The resource changed while you were editing it."


class TooManyRequestsError(ServiceError):
    code = "too_many_requests"
    default_message = "Too many requests. Please try again later."

    def __init__(self, message: str | None = None, *, retry_after: int = 60, limit: int = 0,
                 remaining: int = 0) -> None:
        super().__init__(message)
        self.retry_after, self.limit, self.remaining = max(retry_after, 1), limit, remaining


class ServiceUnavailableError(ServiceError):
    code = "service_unavailable"
    default_message = "The service is busy. Please retry shortly."


class PayloadTooLargeError(ServiceError):
    code = "file_too_large"
    default_message = "File size exceeded."


class UnsupportedMediaTypeError(ServiceError):
    code = "unsupported_file_type"
    default_message = "File type not allowed."


# ---- setup and authentication --------------------------------------------------------------
class AlreadySetupError(PermissionDeniedError):
    code = "already_setup"
    default_message = ("Dify has been successfully installed. Please refresh the page or return to the "
                       "dashboard homepage.")


class NotSetupError(UnauthorizedError):
    code = "not_setup"
    default_message = ("Dify has not been initialized and installed yet. Please proceed with the initialization "
                       "and installation process first.")


class AuthenticationFailedError(UnauthorizedError):
    code = "authentication_failed"
    default_message = "Invalid email or password."


class InvalidRefreshTokenError(UnauthorizedError):
    default_message = "Invalid refresh token"


class LoginLimitError(TooManyRequestsError):
    code = "email_code_login_limit"
    default_message = "Too many incorrect password attempts. Please try again later."


class AccountBannedError(InvalidInputError):
    code = "account_banned"
    default_message = "Account is banned."


class InvalidActivationTokenError(InvalidInputError):
    code = "invalid_or_expired_token"
    default_message = "The invitation link is invalid or has expired."


class CurrentPasswordIncorrectError(InvalidInputError):
    code = "current_password_incorrect"
    default_message = "Current password is incorrect."


class RepeatPasswordNotMatchError(InvalidInputError):
    code = "repeat_password_not_match"
    default_message = "New password and repeat password do not match."


class WorkspaceNotFoundForAccountError(PermissionDeniedError):
    code = "account_not_link_tenant"
    default_message = "Account not link tenant."


# ---- workspaces and members ----------------------------------------------------------------
class InvalidRoleError(InvalidInputError):
    code = "invalid-role"
    default_message = "Invalid role"


class CannotOperateSelfError(InvalidInputError):
    code = "cannot-operate-self"
    default_message = "Cannot operate self."


class MemberNotFoundError(NotFoundError):
    code = "member-not-found"
    default_message = "Member not found."


class WorkspaceNotFoundError(NotFoundError):
    default_message = "Workspace not found."


# ---- apps and keys -------------------------------------------------------------------------
class AppNotFoundError(NotFoundError):
    code = "app_not_found"
    default_message = "App not found."


class AppUnavailableError(InvalidInputError):
    code = "app_unavailable"
    default_message = "App unavailable, please check your app configurations."


class ApiKeyNotFoundError(NotFoundError):
    default_message = "API Key not found."


class MaxKeysExceededError(InvalidInputError):
    code = "max_keys_exceeded"
    default_message = "Cannot create more than 10 API keys for this resource type."


class EndUserNotFoundError(NotFoundError):
    code = "end_user_not_found"
    default_message = "End user not found."


# ---- files, generation, conversations -------------------------------------------------------
class FilenameNotExistsError(InvalidInputError):
    code = "filename_not_exists_error"
    default_message = "The specified filename does not exist."


class NoFileUploadedError(InvalidInputError):
    code = "no_file_uploaded"
    default_message = "Please upload your file."


class TooManyFilesError(InvalidInputError):
    code = "too_many_files"
    default_message = "Only one file is allowed."


class StoredFileNotFoundError(NotFoundError):
    code = "file_not_found"
    default_message = "File not found."


class NotChatAppError(InvalidInputError):
    code = "not_chat_app"
    default_message = "Please check if your app mode matches the right API route."


class NotCompletionAppError(AppUnavailableError):
    default_message = "Please check if your Completion app mode matches the right API route."


class ProviderNotInitializeError(InvalidInputError):
    code = "provider_not_initialize"
    default_message = ("No valid model provider credentials found. Please go to Settings -> Model Provider to "
                       "complete your provider credentials.")


class ConversationNotFoundError(NotFoundError):
    default_message = "Conversation Not Exists."


class MessageNotFoundError(NotFoundError):
    default_message = "Message Not Exists."


class ConversationCompletedError(InvalidInputError):
    code = "conversation_completed"
    default_message = "The conversation has ended. Please start a new conversation."


class SuggestedQuestionsDisabledError(InvalidInputError):
    code = "bad_request"
    default_message = "Suggested Questions Is Disabled."


class CompletionRequestError(InvalidInputError):
    code = "completion_request_error"
    default_message = "Completion request failed."


class RunFailedError(ServiceError):
    """A blocking run ended with an `error` event; carries that event's code/status/message."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code, self.status = code, status


# ---- knowledge: datasets, documents, segments ------------------------------------------------
class DatasetNotFoundError(NotFoundError):
    default_message = "Dataset not found."


class DatasetNameDuplicateError(ConflictError):
    code = "dataset_name_duplicate"
    default_message = "Dataset name already exists. Please modify your dataset name."


class DatasetInUseError(ConflictError):
    code = "dataset_in_use"
    default_message = ("The dataset is being used by some apps. Please remove the dataset from the apps before "
                       "deleting it.")


class DatasetApiDisabledError(PermissionDeniedError):
    default_message = "Dataset api access is not enabled."


class DatasetNotInitializedError(InvalidInputError):
    code = "dataset_not_initialized"
    default_message = "The dataset is still being initialized or indexing. Please wait a moment."


class DocumentNotFoundError(NotFoundError):
    default_message = "Document not found."


class DocumentIndexingError(InvalidInputError):
    code = "document_indexing"
    default_message = "Cannot delete document during indexing."


class ArchivedDocumentImmutableError(PermissionDeniedError):
    code = "archived_document_immutable"
    default_message = "The archived document is not editable."


class InvalidActionError(InvalidInputError):
    code = "invalid_action"
    default_message = "Invalid action."


class SegmentNotFoundError(NotFoundError):
    default_message = "Segment not found."


# ---- tags ----------------------------------------------------------------------------------------
class TagNotFoundError(NotFoundError):
    default_message = "Tag not found."


class TagNameDuplicateError(InvalidInputError):
    default_message = "Tag name already exists"


class ChildChunkNotFoundError(NotFoundError):
    default_message = "Child chunk not found."


class DocumentAlreadyFinishedError(InvalidInputError):
    code = "document_already_finished"
    default_message = "The document has been processed. Please refresh the page or go to the document details."


class IndexingEstimateError(InvalidInputError):
    code = "indexing_estimate_error"
    default_message = "Knowledge indexing estimate failed."
