//! The one table from core errors to HTTP status codes and client-facing messages. Internal
//! failures reach clients as a generic message; the detail goes to the server log.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use coffer_api::ErrorBody;
use coffer_core::Error;

use crate::router::json_response;

/// The status code for a core error.
pub fn status_for(error: &Error) -> StatusCode {
    match error {
        Error::Sealed => StatusCode::SERVICE_UNAVAILABLE,
        Error::AlreadyInitialized
        | Error::NotInitialized
        | Error::WrongUnsealKeys
        | Error::InvalidUnsealKey(_)
        | Error::InvalidRequest(_)
        | Error::DurationOutOfRange(_) => StatusCode::BAD_REQUEST,
        Error::PermissionDenied
        | Error::PolicyDenied
        | Error::PreflightDenied { .. }
        | Error::BadToken
        | Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::NoHandler { .. }
        | Error::UnsupportedPath
        | Error::NamespaceNotFound
        | Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::UnsupportedOperation => StatusCode::METHOD_NOT_ALLOWED,
        Error::Conflict | Error::Refused(_) => StatusCode::CONFLICT,
        Error::AuditFailed | Error::RevocationFailed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        Error::Upstream(_) => StatusCode::BAD_GATEWAY,
        Error::CorruptRecord { .. } | Error::Barrier(_) | Error::Storage(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// The message a client sees. Corruption names the storage path (never the content) so an
/// operator can act on it; other internal failures are generic.
pub(crate) fn client_message(error: &Error) -> String {
    match error {
        Error::Barrier(coffer_barrier_error) if is_corruption(coffer_barrier_error) => {
            error.to_string()
        }
        Error::Barrier(_) | Error::Storage(_) => "internal error".to_owned(),
        other => other.to_string(),
    }
}

fn is_corruption(error: &coffer_core::BarrierError) -> bool {
    matches!(error, coffer_core::BarrierError::Corrupt { .. })
}

/// Turns a core error into Vault's `{"errors":[...]}` reply, logging internal failures.
pub(crate) fn error_response(error: &Error) -> Response {
    let status = status_for(error);
    if status.is_server_error() {
        tracing::error!(%error, "request failed");
    }
    let body = ErrorBody {
        errors: vec![client_message(error)],
    };
    json_response(status, &body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(error: Error, status: u16, message: &str) {
        assert_eq!(status_for(&error).as_u16(), status, "{error:?}");
        assert_eq!(client_message(&error), message, "{error:?}");
    }

    #[test]
    fn every_variant_has_a_status() {
        check(Error::Sealed, 503, "Vault is sealed");
        check(
            Error::AlreadyInitialized,
            400,
            "Vault is already initialized",
        );
        check(Error::NotInitialized, 400, "Vault is not initialized");
        check(
            Error::WrongUnsealKeys,
            400,
            "failed to unseal: the unseal keys do not match this server's root key; progress was reset",
        );
        check(
            Error::InvalidUnsealKey("too short".into()),
            400,
            "invalid key: too short",
        );
        check(Error::PermissionDenied, 403, "permission denied");
        check(
            Error::PolicyDenied,
            403,
            "1 error occurred:\n\t* permission denied\n\n",
        );
        check(Error::BadToken, 403, "bad token");
        check(
            Error::Forbidden("identity agent:x is not allowed".into()),
            403,
            "permission denied: identity agent:x is not allowed",
        );
        check(
            Error::Refused("credential x is revoked".into()),
            409,
            "credential x is revoked",
        );
        check(
            Error::Upstream("database \"pg\": could not connect".into()),
            502,
            "database \"pg\": could not connect",
        );
        check(
            Error::PreflightDenied {
                path: "secret/app/x/".into(),
            },
            403,
            "preflight capability check returned 403, please ensure client's policies grant access to path \"secret/app/x/\"",
        );
        check(Error::invalid("missing token"), 400, "missing token");
        check(
            Error::NoHandler {
                path: "nomount/foo".into(),
            },
            404,
            "no handler for route \"nomount/foo\". route entry not found.",
        );
        check(Error::NamespaceNotFound, 404, "namespace not found");
        check(
            Error::UnsupportedPath,
            404,
            "1 error occurred:\n\t* unsupported path\n\n",
        );
        check(
            Error::UnsupportedOperation,
            405,
            "1 error occurred:\n\t* unsupported operation\n\n",
        );
        check(
            Error::Conflict,
            409,
            "the record changed while it was being updated; retry",
        );
        check(
            Error::AuditFailed,
            500,
            "no audit device could record the request, so it was refused",
        );
        check(
            Error::RevocationFailed {
                what: "entry db/creds/ro/abc".into(),
                reason: "database unreachable".into(),
            },
            500,
            "failed to revoke entry db/creds/ro/abc: database unreachable; it is kept and retried (see sys/leases/failed)",
        );
        check(
            Error::DurationOutOfRange(std::time::Duration::from_secs(1)),
            400,
            "duration 1s is out of range",
        );
        check(
            Error::CorruptRecord {
                path: "sys/token/id/x".into(),
                reason: "bad".into(),
            },
            500,
            "corrupt record at \"sys/token/id/x\": bad",
        );
        check(
            Error::Storage(coffer_storage::Error::Closed),
            500,
            "internal error",
        );
    }
}
