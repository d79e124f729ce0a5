//! Wrappers around axum's `Query`, `Path` and `Json` whose rejections are problem documents that
//! name the offending parameter or field, instead of axum's plain-text errors; and the
//! `If-Match` header of commands.

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};

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

/// A JSON request body: an object, sent with a JSON content type. A missing or empty body is a
/// 400 that says so: every body of ours has something required, or is a command without
/// fields ([`NoBody`]).
pub(crate) struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match json_object(request, state).await? {
            Some(bytes) => axum::Json::<T>::from_bytes(&bytes)
                .map(|axum::Json(value)| JsonBody(value))
                .map_err(ApiError::from),
            None => Err(ApiError::InvalidBody(
                "a JSON body is required (`Content-Type: application/json`)".to_owned(),
            )),
        }
    }
}

/// The body of a command without fields: none at all, or `{}`.
pub(crate) struct NoBody;

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(bytes) = json_object(request, state).await? {
            let crate::case_commands::NoFields {} = axum::Json::from_bytes(&bytes)
                .map(|axum::Json(value)| value)
                .map_err(ApiError::from)?;
        }
        Ok(NoBody)
    }
}

/// The body, if one was sent: JSON by its content type, an object, and nested no deeper than
/// [`MAX_JSON_DEPTH`]. (serde would read a struct from an array as well; no body of ours is one.)
async fn json_object<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<Option<Bytes>, ApiError> {
    let has_json_content_type = is_json(request.headers());
    let bytes = Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            // The body limit layer makes reading fail with 413; anything else is a broken body.
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidBody("the body could not be read".to_owned())
            }
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if !has_json_content_type {
        return Err(ApiError::UnsupportedMediaType);
    }
    if nests_deeper_than(&bytes, MAX_JSON_DEPTH) {
        return Err(ApiError::InvalidBody(format!(
            "the body nests objects and arrays deeper than {MAX_JSON_DEPTH} levels"
        )));
    }
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::InvalidBody(
            "the body must be a JSON object".to_owned(),
        ));
    }
    Ok(Some(bytes))
}

/// For an `Option` field that may be left out but is never `null` (as the document says:
/// `nullable: false`): `#[serde(default, deserialize_with = "present")]`.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A list of at most `N` items, refused as soon as item `N + 1` comes (the document's
/// `maxItems`): `deserialize_with = "crate::extract::at_most::<_, _, N>"`.
pub(crate) fn at_most<'de, D, T, const N: usize>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    struct AtMost<T, const N: usize>(std::marker::PhantomData<T>);
    impl<'de, T: serde::Deserialize<'de>, const N: usize> serde::de::Visitor<'de> for AtMost<T, N> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "a list of at most {N}")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                if items.len() == N {
                    return Err(serde::de::Error::custom(format!("at most {N} items")));
                }
                items.push(item);
            }
            Ok(items)
        }
    }
    deserializer.deserialize_seq(AtMost::<T, N>(std::marker::PhantomData))
}

/// A JSON integer, which JSON Schema lets be written `5` or `5.0`: `deserialize_with = "whole"`.
pub(crate) fn whole<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    struct Whole;
    impl serde::de::Visitor<'_> for Whole {
        type Value = i64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom("a whole number out of range"))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<i64, E> {
            // Within ±2^53 a float holds whole numbers exactly.
            const EXACT: f64 = 9_007_199_254_740_992.0;
            if v.fract() == 0.0 && v.abs() <= EXACT {
                Ok(v as i64)
            } else {
                Err(E::custom("a whole number"))
            }
        }
    }
    deserializer.deserialize_any(Whole)
}

/// No body of ours nests deeper than four levels; this leaves room and keeps a hostile body
/// from making the parser recurse (serde_json would stop at 128, after the work).
const MAX_JSON_DEPTH: usize = 16;

/// Whether the JSON text opens more than `max` objects and arrays inside each other. Counts
/// brackets outside strings only; malformed text is left for the parser to name.
fn nests_deeper_than(json: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in json {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// serde's messages quote the offending value (`invalid type: string "…"`, ``integer `…` ``,
/// ``unknown variant `…` ``); a body may carry a name or an e-mail address, so values are cut
/// out of the message and only the field's path and the expectation remain.
fn without_values(message: &str) -> String {
    // The kinds serde_json names before a backquoted value (field names stay: they are ours).
    const BEFORE_VALUE: [&str; 5] = [
        "integer `",
        "floating point `",
        "variant `",
        "character `",
        "boolean `",
    ];
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    loop {
        let quote = rest.find('"').map(|at| (at, at + 1, '"'));
        let value = BEFORE_VALUE
            .iter()
            .filter_map(|kind| rest.find(kind).map(|at| (at, at + kind.len(), '`')))
            .min();
        let Some((_, start, close)) = [quote, value].into_iter().flatten().min() else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..start]);
        out.push('…');
        out.push(close);
        match rest[start..].find(close) {
            Some(end) => rest = &rest[start + end + 1..],
            None => return out,
        }
    }
}

/// `application/json`, or any `application/…+json`, with or without parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(essence) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
    else {
        return false;
    };
    let essence = essence.trim().to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        // The innermost error is serde_json's (through serde_path_to_error for data errors):
        // "<field>: <reason> at line L column C". Axum's outer sentences add nothing.
        let mut message = rejection.body_text();
        let mut source = std::error::Error::source(&rejection);
        while let Some(error) = source {
            message = error.to_string();
            source = error.source();
        }
        ApiError::InvalidBody(without_values(&message))
    }
}

/// The `If-Match` header of a command: the version of the case the client last read (its
/// `ETag`), or `None` when absent or `*`. Written `"3"`; the quotes may be left out.
pub(crate) struct IfMatch(pub Option<u64>);

impl IfMatch {
    const NAME: &'static str = "If-Match";
    const EXPECTED: &'static str =
        "expected one version of the case as its ETag gives it, e.g. \"3\"";

    fn parse(headers: &HeaderMap) -> Result<Self, ApiError> {
        let mut values = headers.get_all(header::IF_MATCH).iter();
        let Some(value) = values.next() else {
            return Ok(IfMatch(None));
        };
        // The value is never echoed: the client has it, and logs need not.
        let invalid = || ApiError::InvalidHeader {
            name: Self::NAME,
            reason: Self::EXPECTED,
        };
        if values.next().is_some() {
            return Err(invalid());
        }
        let value = value.to_str().map_err(|_| invalid())?.trim();
        if value == "*" {
            return Ok(IfMatch(None));
        }
        let unquoted = match value.strip_prefix('"') {
            Some(rest) => rest.strip_suffix('"').ok_or_else(invalid)?,
            None => value,
        };
        // Digits only (`u64::from_str` would also take a leading `+`), at most 19 of them, as
        // the document's pattern says.
        if !(1..=19).contains(&unquoted.len()) || !unquoted.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        unquoted
            .parse()
            .map(|v| IfMatch(Some(v)))
            .map_err(|_| invalid())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::parse(&parts.headers)
    }
}

impl utoipa::IntoParams for IfMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![ParameterBuilder::new()
            .name(Self::NAME)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "The version of the case the command was decided on: the case's `ETag`, quotes \
                 optional. If the case has changed since, the command is refused with 409 \
                 `stale-version` and the current version. Without it (or with `*`), the command \
                 applies to whatever the case's current version is.",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(r#"^(\*|[0-9]{1,19}|"[0-9]{1,19}")$"#))
                    .examples(["\"3\""]),
            ))
            .build()]
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn if_match(values: &[&str]) -> Result<Option<u64>, ApiError> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::IF_MATCH, HeaderValue::from_str(value).unwrap());
        }
        IfMatch::parse(&headers).map(|IfMatch(version)| version)
    }

    #[test]
    fn if_match_takes_a_version_with_or_without_quotes() {
        assert_eq!(if_match(&[]).unwrap(), None);
        assert_eq!(if_match(&["*"]).unwrap(), None);
        assert_eq!(if_match(&["\"3\""]).unwrap(), Some(3));
        assert_eq!(if_match(&["3"]).unwrap(), Some(3));
        assert_eq!(if_match(&[" \"12\" "]).unwrap(), Some(12));
    }

    #[test]
    fn a_malformed_if_match_is_refused_without_repeating_it() {
        for bad in [
            "",
            "\"\"",
            "\"3",
            "3\"",
            "W/\"3\"",
            "+3",
            "-1",
            "three",
            "\"1\", \"2\"",
            "99999999999999999999999",
        ] {
            let error = if_match(&[bad]).expect_err(bad);
            // One fixed message, whatever was sent.
            assert_eq!(
                error.to_string(),
                format!("invalid header `If-Match`: {}", IfMatch::EXPECTED),
                "{bad:?}"
            );
        }
        assert!(if_match(&["1", "2"]).is_err());
    }

    #[test]
    fn json_content_types() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            is_json(&headers)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn deep_nesting_is_found_outside_strings_only() {
        let deep = format!("{}{}", "[".repeat(17), "]".repeat(17));
        assert!(nests_deeper_than(deep.as_bytes(), 16));
        let fine = format!("{}{}", "[".repeat(16), "]".repeat(16));
        assert!(!nests_deeper_than(fine.as_bytes(), 16));
        let quoted = format!(r#"{{"a": "{}\\" }}"#, "[".repeat(40));
        assert!(!nests_deeper_than(quoted.as_bytes(), 16));
        assert!(!nests_deeper_than(
            br#"{"a": "\"[[[[[[[[[[[[[[[[[[[[[["}"#,
            2
        ));
    }

    #[test]
    fn values_are_cut_out_of_serde_messages() {
        assert_eq!(
            without_values(
                r#"contact.email: invalid type: string "ada@example.org", expected a map at line 1 column 9"#
            ),
            r#"contact.email: invalid type: string "…", expected a map at line 1 column 9"#
        );
        assert_eq!(
            without_values("channel: unknown variant `Lovelace`, expected `email` or `phone`"),
            "channel: unknown variant `…`, expected `email` or `phone`"
        );
        assert_eq!(
            without_values("phone: invalid type: integer `5550199`, expected a string"),
            "phone: invalid type: integer `…`, expected a string"
        );
        assert_eq!(
            without_values("missing field `name`"),
            "missing field `name`"
        );
    }
}
