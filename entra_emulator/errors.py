"""Error answers in the real services' formats: ``AADSTS…`` errors from the identity platform, Graph's error object.

The AADSTS numbers and wording follow Microsoft's error code reference
(ref: https://learn.microsoft.com/entra/identity-platform/reference-error-codes), so that clients' error handling
sees what it would see in production.
"""

import datetime
import uuid


def _timestamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


class OAuthError(Exception):
    """An identity platform error: HTTP status, OAuth ``error`` and an AADSTS code with its message."""

    def __init__(self, status: int, error: str, code: int, message: str):
        self.status, self.error, self.code, self.message = status, error, code, message
        super().__init__(f"{error}: AADSTS{code}: {message}")

    @property
    def description(self) -> str:
        return f"AADSTS{self.code}: {self.message}"

    def body(self, correlation_id: str | None = None) -> dict:
        trace_id, correlation_id, timestamp = str(uuid.uuid4()), correlation_id or str(uuid.uuid4()), _timestamp()
        return {
            "error": self.error,
            "error_description": (
                f"{self.description}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\n"
                f"Timestamp: {timestamp}"
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
        }


# ---- the requests themselves ----------------------------------------------------------------------------------------


def tenant_not_found(tenant: str) -> OAuthError:
    return OAuthError(
        400,
        "invalid_request",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the "
        "correct cloud.",
    )


def missing_parameter(name: str) -> OAuthError:
    return OAuthError(
        400, "invalid_request", 900144, f"The request body must contain the following parameter: '{name}'."
    )


def malformed(detail: str) -> OAuthError:
    return OAuthError(400, "invalid_request", 9002313, f"Invalid request. Request is malformed or invalid. {detail}")


def unsupported_grant_type(grant_type: str) -> OAuthError:
    return OAuthError(
        400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant_type}'."
    )


# ---- the application ------------------------------------------------------------------------------------------------


def application_not_found(client_id: str, tenant: str) -> OAuthError:
    return OAuthError(
        400,
        "unauthorized_client",
        700016,
        f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if "
        "the application has not been installed by the administrator of the tenant or consented to by any user in "
        "the tenant. You may have sent your authentication request to the wrong tenant.",
    )


def missing_client_secret() -> OAuthError:
    return OAuthError(
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    )


def invalid_client_secret(client_id: str) -> OAuthError:
    return OAuthError(
        401,
        "invalid_client",
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, "
        f"not the client secret ID, for a secret added to app '{client_id}'.",
    )


def redirect_uri_not_registered(redirect_uri: str, client_id: str) -> OAuthError:
    return OAuthError(
        400,
        "invalid_request",
        50011,
        f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured "
        f"for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to "
        "your application.",
    )


# ---- the authorization request --------------------------------------------------------------------------------------


def unsupported_response_type(response_type: str) -> OAuthError:
    return OAuthError(
        400,
        "unsupported_response_type",
        700054,
        f"response_type '{response_type}' is not enabled for the application. The emulator issues codes only "
        "(response_type=code).",
    )


def pkce_required() -> OAuthError:
    return OAuthError(
        400,
        "invalid_request",
        900144,
        "The request body must contain the following parameter: 'code_challenge'. (Proof Key for Code Exchange "
        "is required by this tenant.)",
    )


def invalid_code_challenge_method() -> OAuthError:
    return OAuthError(400, "invalid_request", 50149, "Invalid Code_Challenge_method parameter. Use S256.")


def invalid_code_challenge() -> OAuthError:
    return OAuthError(
        400,
        "invalid_request",
        501491,
        "InvalidCodeChallengeMethodInvalidSize - Invalid size of Code_Challenge parameter.",
    )


# ---- grants -------------------------------------------------------------------------------------------------------


def code_already_redeemed() -> OAuthError:
    return OAuthError(
        400,
        "invalid_grant",
        54005,
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing "
        "refresh token.",
    )


def grant_expired() -> OAuthError:
    return OAuthError(
        400,
        "invalid_grant",
        70008,
        "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive "
        "authorization request for this user and resource.",
    )


def grant_malformed() -> OAuthError:
    return OAuthError(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")


def grant_of_another_client() -> OAuthError:
    return OAuthError(
        400, "invalid_grant", 70000, "Provided grant is invalid or malformed. It was issued to another application."
    )


def refresh_token_revoked() -> OAuthError:
    return OAuthError(
        400,
        "invalid_grant",
        50173,
        "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have "
        "changed or reset their password.",
    )


def redirect_uri_mismatch(given: str, expected: str) -> OAuthError:
    return OAuthError(
        400,
        "invalid_grant",
        500112,
        f"The reply address '{given}' does not match the reply address '{expected}' provided when requesting "
        "Authorization code.",
    )


def code_verifier_mismatch() -> OAuthError:
    return OAuthError(
        400,
        "invalid_grant",
        501481,
        "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
    )


def consent_required(scope: str, client_id: str) -> OAuthError:
    return OAuthError(
        400,
        "invalid_grant",
        65001,
        f"The user or administrator has not consented to use the application with ID '{client_id}' for the scope "
        f"'{scope}'. Send an interactive authorization request for this user and resource.",
    )


def user_no_longer_exists(username: str) -> OAuthError:
    return OAuthError(400, "invalid_grant", 50034, f"The user account {username} does not exist in the directory.")


def client_credentials_scope(scope: str) -> OAuthError:
    return OAuthError(
        400,
        "invalid_scope",
        1002012,
        f"The provided value for scope {scope} is not valid. Client credential flows must have a scope value with "
        "/.default suffixed to the resource identifier (application ID URI).",
    )


def resource_not_found(resource: str, tenant: str) -> OAuthError:
    return OAuthError(
        400,
        "invalid_resource",
        500011,
        f"The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if "
        "the application has not been installed by the administrator of the tenant or consented to by any user "
        "in the tenant. You might have sent your authentication request to the wrong tenant.",
    )


# ---- Microsoft Graph ------------------------------------------------------------------------------------------------


class GraphError(Exception):
    """A Microsoft Graph error: HTTP status, Graph's error code and message."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None):
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after
        super().__init__(f"{code}: {message}")

    def body(self, client_request_id: str | None = None) -> dict:
        inner = {
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": str(uuid.uuid4()),
        }
        inner["client-request-id"] = client_request_id or inner["request-id"]
        return {"error": {"code": self.code, "message": self.message, "innerError": inner}}


def graph_unauthenticated(message: str) -> GraphError:
    return GraphError(401, "InvalidAuthenticationToken", message)


def graph_forbidden() -> GraphError:
    return GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


def graph_throttled(retry_after: int) -> GraphError:
    # ref: https://learn.microsoft.com/graph/throttling (429 with a Retry-After header, in seconds)
    return GraphError(429, "TooManyRequests", "Please retry again later.", retry_after)


def graph_not_found(object_id: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{object_id}' does not exist or one of its queried reference-property objects are not present.",
    )


def graph_bad_request(message: str) -> GraphError:
    return GraphError(400, "Request_BadRequest", message)
