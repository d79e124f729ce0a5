//! Wrappers around axum's `Query` and `Path` whose rejections are problem documents that name
//! the offending parameter, instead of axum's plain-text errors.

use axum::extract::path::ErrorKind;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub(crate) struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(ApiError::from)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        // The inner error (serde_path_to_error's) reads "<parameter>: <reason>"; the outer one
        // only prefixes axum's generic sentence.
        let message = std::error::Error::source(&rejection)
            .map(ToString::to_string)
            .unwrap_or_else(|| rejection.body_text());
        ApiError::InvalidQuery(message)
    }
}

pub(crate) struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => {
                // Errors on a lone or positional value carry no name; the route's own
                // parameter names supply it.
                let names: Vec<String> = RawPathParams::from_request_parts(parts, state)
                    .await
                    .map(|params| params.iter().map(|(name, _)| name.to_owned()).collect())
                    .unwrap_or_default();
                Err(path_error(&rejection, &names))
            }
        }
    }
}

fn path_error(rejection: &PathRejection, names: &[String]) -> ApiError {
    let PathRejection::FailedToDeserializePathParams(failure) = rejection else {
        // Missing path parameters mean the route and the handler disagree: our bug.
        return ApiError::Internal(rejection.body_text());
    };
    let sole_name = || match names {
        [name] => name.clone(),
        _ => "path".to_owned(),
    };
    // The raw value is not repeated back: the client has it, and logs need not.
    let (name, reason) = match failure.kind() {
        ErrorKind::DeserializeError { key, message, .. } => (key.clone(), message.clone()),
        ErrorKind::ParseErrorAtKey {
            key, expected_type, ..
        } => (key.clone(), format!("expected {expected_type}")),
        ErrorKind::ParseErrorAtIndex {
            index,
            expected_type,
            ..
        } => (
            names.get(*index).cloned().unwrap_or_else(sole_name),
            format!("expected {expected_type}"),
        ),
        ErrorKind::ParseError { expected_type, .. } => {
            (sole_name(), format!("expected {expected_type}"))
        }
        ErrorKind::InvalidUtf8InPathParam { key } => (key.clone(), "not valid UTF-8".to_owned()),
        // Wrong arity or unsupported types are programming errors, not bad input.
        _ => return ApiError::Internal(failure.body_text()),
    };
    ApiError::InvalidPath { name, reason }
}
