//! AWS errors, classified once at the adapter boundary so the reconciler can decide
//! between "retry with backoff" and "stall until the object changes".

use std::fmt;

/// How the reconciler should treat an AWS error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AwsErrorKind {
    /// The request was throttled; retry later, slower.
    Throttled,
    /// The resource does not exist.
    NotFound,
    /// AWS rejected the input (unknown instance type, role, subnet…); retrying cannot help.
    InvalidInput,
    /// AWS refused because another resource still depends on this one (or vice versa).
    Dependency,
    /// 5xx, timeouts, connection problems: retry with backoff.
    Transient,
    /// Access denied or missing credentials: retrying without a fix cannot help, but the fix
    /// is outside the object, so it is retried slowly.
    AccessDenied,
}

/// An error from an AWS API call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsError {
    /// Classification.
    pub kind: AwsErrorKind,
    /// The API operation, e.g. `ecs:CreateService`.
    pub operation: &'static str,
    /// AWS error code, e.g. `ClientException`.
    pub code: String,
    /// AWS error message.
    pub message: String,
}

impl AwsError {
    /// A new error.
    pub fn new(
        kind: AwsErrorKind,
        operation: &'static str,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            operation,
            code: code.into(),
            message: message.into(),
        }
    }

    /// Whether the resource did not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind == AwsErrorKind::NotFound
    }

    /// Whether retrying the same request can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            AwsErrorKind::Throttled
                | AwsErrorKind::Transient
                | AwsErrorKind::Dependency
                | AwsErrorKind::AccessDenied
        )
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.operation, self.code, self.message)
    }
}

impl std::error::Error for AwsError {}

/// Classify an AWS error code (and HTTP status, when known) the way the reconciler needs.
///
/// Codes come from the ECS, Auto Scaling, ELB and EC2 API references.
pub fn classify(code: &str, message: &str, http_status: Option<u16>) -> AwsErrorKind {
    let lower = message.to_ascii_lowercase();
    match code {
        "ThrottlingException"
        | "Throttling"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "SlowDown" => AwsErrorKind::Throttled,
        "ClusterNotFoundException"
        | "ServiceNotFoundException"
        | "ResourceNotFoundException"
        | "LoadBalancerNotFound"
        | "AccessPointNotFound"
        | "InvalidLaunchTemplateName.NotFoundException"
        | "InvalidLaunchTemplateId.NotFound"
        | "InvalidLaunchTemplateId.NotFoundException"
        | "InvalidLaunchTemplateId.VersionNotFound" => AwsErrorKind::NotFound,
        "ServiceNotActiveException" => AwsErrorKind::NotFound,
        "ClusterContainsServicesException"
        | "ClusterContainsContainerInstancesException"
        | "ClusterContainsTasksException"
        | "ResourceInUse"
        | "ResourceInUseException"
        | "ScalingActivityInProgress"
        | "ScalingActivityInProgressFault"
        | "DependencyViolation"
        | "UpdateInProgressException" => AwsErrorKind::Dependency,
        "AccessDeniedException"
        | "AccessDenied"
        | "UnauthorizedOperation"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "AuthFailure" => AwsErrorKind::AccessDenied,
        "ServerException"
        | "InternalFailure"
        | "InternalError"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "Unavailable" => AwsErrorKind::Transient,
        // ECS says "ClientException" for bad input, but also for "not found" of a service.
        "ClientException" if lower.contains("not found") || lower.contains("does not exist") => {
            if lower.contains("role") || lower.contains("task definition") {
                AwsErrorKind::InvalidInput
            } else {
                AwsErrorKind::NotFound
            }
        }
        // Auto Scaling: "AutoScalingGroup name not found - ...".
        "ValidationError"
            if lower.contains("not found")
                && (lower.contains("autoscalinggroup") || lower.contains("auto scaling group")) =>
        {
            AwsErrorKind::NotFound
        }
        "" => match http_status {
            Some(429) => AwsErrorKind::Throttled,
            Some(404) => AwsErrorKind::NotFound,
            Some(s) if (400..500).contains(&s) => AwsErrorKind::InvalidInput,
            _ => AwsErrorKind::Transient,
        },
        _ => match http_status {
            Some(s) if s >= 500 => AwsErrorKind::Transient,
            _ => AwsErrorKind::InvalidInput,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_codes_are_throttled() {
        for code in ["ThrottlingException", "Throttling", "RequestLimitExceeded"] {
            assert_eq!(
                classify(code, "", Some(400)),
                AwsErrorKind::Throttled,
                "{code}"
            );
        }
        assert_eq!(classify("", "", Some(429)), AwsErrorKind::Throttled);
    }

    #[test]
    fn bad_input_is_terminal_and_server_errors_retry() {
        let k = classify(
            "InvalidParameterException",
            "Invalid instance type",
            Some(400),
        );
        assert_eq!(k, AwsErrorKind::InvalidInput);
        assert!(!AwsError::new(k, "op", "c", "m").is_retryable());
        assert_eq!(
            classify("ServerException", "", Some(500)),
            AwsErrorKind::Transient
        );
        assert_eq!(classify("Weird", "", Some(503)), AwsErrorKind::Transient);
        assert_eq!(classify("", "", None), AwsErrorKind::Transient);
    }

    #[test]
    fn ecs_client_exception_not_found_depends_on_subject() {
        assert_eq!(
            classify("ClientException", "Service not found.", Some(400)),
            AwsErrorKind::NotFound
        );
        assert_eq!(
            classify("ClientException", "Role does not exist", Some(400)),
            AwsErrorKind::InvalidInput
        );
        assert_eq!(
            classify("ClientException", "Invalid memory value", Some(400)),
            AwsErrorKind::InvalidInput
        );
    }

    #[test]
    fn missing_auto_scaling_group_is_not_found() {
        let msg = "AutoScalingGroup name not found - no such group";
        assert_eq!(
            classify("ValidationError", msg, Some(400)),
            AwsErrorKind::NotFound
        );
        assert_eq!(
            classify("ValidationError", "bad size", Some(400)),
            AwsErrorKind::InvalidInput
        );
    }

    #[test]
    fn dependency_errors_are_retryable() {
        let k = classify("ClusterContainsServicesException", "", Some(400));
        assert_eq!(k, AwsErrorKind::Dependency);
        assert!(AwsError::new(k, "op", "c", "m").is_retryable());
    }
}
