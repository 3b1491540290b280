//! Conversions shared by the service modules.

use aws_smithy_types::date_time::Format;
use aws_smithy_types::error::operation::BuildError;
use aws_smithy_types::DateTime;

use crate::aws::error::{AwsError, AwsErrorKind};
use crate::aws::types::Tags;

/// A request object the SDK refused to build (a required field missing): bad input.
pub(crate) fn build_error(operation: &'static str, err: BuildError) -> AwsError {
    AwsError::new(
        AwsErrorKind::InvalidInput,
        operation,
        "BuildError",
        err.to_string(),
    )
}

/// A response that lacks something every real answer has.
pub(crate) fn malformed(operation: &'static str, what: &str) -> AwsError {
    AwsError::new(
        AwsErrorKind::Transient,
        operation,
        "MalformedResponse",
        format!("response without {what}"),
    )
}

/// RFC 3339, as the Kubernetes status fields want it.
pub(crate) fn rfc3339(t: Option<&DateTime>) -> Option<String> {
    t.and_then(|t| t.fmt(Format::DateTime).ok())
}

/// Tags from (key, value) pairs; entries without a key are dropped.
pub(crate) fn tags_from<'a>(
    pairs: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> Tags {
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k?.to_string(), v.unwrap_or_default().to_string())))
        .collect()
}

/// `Some(v)` for a non-empty vector, so empty lists are left out of requests.
pub(crate) fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    if v.is_empty() {
        None
    } else {
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_seconds() {
        let t = DateTime::from_secs(1_700_000_000);
        assert_eq!(rfc3339(Some(&t)).as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(rfc3339(None), None);
    }

    #[test]
    fn tags_drop_keyless_entries() {
        let tags = tags_from([(Some("a"), Some("1")), (None, Some("2")), (Some("b"), None)]);
        assert_eq!(tags.len(), 2);
        assert_eq!(tags["a"], "1");
        assert_eq!(tags["b"], "");
    }
}
