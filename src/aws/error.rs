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
    /// A resource of that name already exists, most often because a create whose response
    /// was lost did succeed: observe again (then it is ours, adoptable or a conflict).
    AlreadyExists,
    /// An account quota (number of load balancers, launch template versions…): retried
    /// slowly, since it clears when something else is deleted or the quota is raised.
    LimitExceeded,
    /// A code no allow-list knows: retried with backoff rather than taken as terminal.
    Unrecognized,
}

impl AwsErrorKind {
    /// Metric label of the kind.
    pub fn label(self) -> &'static str {
        match self {
            AwsErrorKind::Throttled => "throttled",
            AwsErrorKind::NotFound => "not_found",
            AwsErrorKind::InvalidInput => "invalid_input",
            AwsErrorKind::Dependency => "dependency",
            AwsErrorKind::Transient => "transient",
            AwsErrorKind::AccessDenied => "access_denied",
            AwsErrorKind::AlreadyExists => "already_exists",
            AwsErrorKind::LimitExceeded => "limit_exceeded",
            AwsErrorKind::Unrecognized => "unrecognized",
        }
    }
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
                | AwsErrorKind::AlreadyExists
                | AwsErrorKind::LimitExceeded
                | AwsErrorKind::Unrecognized
        )
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.operation, self.code, self.message)
    }
}

impl std::error::Error for AwsError {}

/// Classify an AWS error of `operation` (`service:Action`) by its code, message and HTTP
/// status.
///
/// Terminal ([`AwsErrorKind::InvalidInput`]) is an allow-list of each service's validation
/// errors: an error the list does not know is retried with backoff, never stalled on, since
/// a code we have not seen may well be a passing condition.
pub fn classify(
    operation: &str,
    code: &str,
    message: &str,
    http_status: Option<u16>,
) -> AwsErrorKind {
    let lower = message.to_ascii_lowercase();
    let service = operation.split(':').next().unwrap_or_default();
    if let Some(kind) = classify_common(code, &lower) {
        return kind;
    }
    let specific = match service {
        "ecs" => classify_ecs(code, &lower),
        "autoscaling" => classify_autoscaling(code, &lower),
        "elasticloadbalancing" => classify_elb(code, &lower),
        "ec2" => classify_ec2(code),
        "application-autoscaling" => classify_app_autoscaling(code, &lower),
        "iam" => classify_iam(code),
        _ => None,
    };
    if let Some(kind) = specific {
        return kind;
    }
    match http_status {
        Some(429) => AwsErrorKind::Throttled,
        Some(s) if s >= 500 => AwsErrorKind::Transient,
        Some(404) if code.is_empty() => AwsErrorKind::NotFound,
        _ => AwsErrorKind::Unrecognized,
    }
}

/// Codes every service uses the same way.
fn classify_common(code: &str, lower: &str) -> Option<AwsErrorKind> {
    let kind = match code {
        "ThrottlingException"
        | "Throttling"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "SlowDown"
        | "PriorRequestNotComplete" => AwsErrorKind::Throttled,
        "AccessDeniedException"
        | "AccessDenied"
        | "UnauthorizedOperation"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "AuthFailure"
        | "OptInRequired" => AwsErrorKind::AccessDenied,
        "ServerException"
        | "InternalFailure"
        | "InternalError"
        | "InternalServerError"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "Unavailable"
        | "RequestTimeout"
        | "RequestTimeoutException" => AwsErrorKind::Transient,
        // Another writer got there first: the next attempt observes the new state.
        "ConcurrentUpdate"
        | "ConcurrentUpdateException"
        | "ResourceContention"
        | "ResourceContentionFault"
        | "IncorrectState"
        | "ConflictException" => AwsErrorKind::Transient,
        "ResourceInUse"
        | "ResourceInUseException"
        | "ResourceInUseFault"
        | "ScalingActivityInProgress"
        | "ScalingActivityInProgressFault"
        | "DependencyViolation"
        | "UpdateInProgressException"
        | "ClusterContainsServicesException"
        | "ClusterContainsContainerInstancesException"
        | "ClusterContainsTasksException" => AwsErrorKind::Dependency,
        // Usually a create whose response was lost: observe again, then claim or conflict.
        "AlreadyExists"
        | "AlreadyExistsFault"
        | "ResourceAlreadyExistsException"
        | "DuplicateLoadBalancerName"
        | "DuplicateAccessPointName"
        | "DuplicateListener"
        | "InvalidLaunchTemplateName.AlreadyExistsException" => AwsErrorKind::AlreadyExists,
        _ => return None,
    };
    // "Too many concurrent attempts", "Rate exceeded" come under many codes.
    if kind != AwsErrorKind::Throttled && is_rate_message(lower) {
        return Some(AwsErrorKind::Throttled);
    }
    Some(kind)
}

fn is_rate_message(lower: &str) -> bool {
    lower.contains("too many concurrent")
        || lower.contains("rate exceeded")
        || lower.contains("request limit exceeded")
        || lower.contains("throttl")
}

fn classify_ecs(code: &str, lower: &str) -> Option<AwsErrorKind> {
    Some(match code {
        "ClusterNotFoundException" | "ServiceNotFoundException" | "ServiceNotActiveException" => {
            AwsErrorKind::NotFound
        }
        "PlatformUnknownException"
        | "PlatformTaskDefinitionIncompatibilityException"
        | "UnsupportedFeatureException"
        | "InvalidParameterException"
        | "ClientException" => {
            // ECS puts retryable conditions under its validation codes too.
            if is_rate_message(lower) {
                AwsErrorKind::Throttled
            } else if lower.contains("not idempotent") || lower.contains("already exists") {
                AwsErrorKind::AlreadyExists
            } else if lower.contains("not found") || lower.contains("does not exist") {
                // What the spec names (a role, a task definition, a subnet, a security
                // group) missing is the spec's fault; a missing service or cluster is a
                // state to observe.
                let named_by_spec = ["role", "task definition", "subnet", "security group"]
                    .iter()
                    .any(|what| lower.contains(what));
                if named_by_spec {
                    AwsErrorKind::InvalidInput
                } else {
                    AwsErrorKind::NotFound
                }
            } else if lower.contains("draining")
                || lower.contains("in progress")
                // Capacity providers: attached to a cluster or used by a service strategy
                // (detach first, then retry), a strategy naming a provider the cluster has
                // not attached yet (the EcsCluster attaches it), a group another provider
                // still holds (deleted in the background).
                || lower.contains("in use")
                || lower.contains("being used")
                || lower.contains("associated with")
            {
                AwsErrorKind::Dependency
            } else {
                AwsErrorKind::InvalidInput
            }
        }
        "LimitExceededException" => AwsErrorKind::LimitExceeded,
        "ResourceNotFoundException" | "TargetNotFoundException" => AwsErrorKind::NotFound,
        _ => return None,
    })
}

fn classify_autoscaling(code: &str, lower: &str) -> Option<AwsErrorKind> {
    Some(match code {
        "ValidationError" => {
            if lower.contains("not found")
                && (lower.contains("autoscalinggroup") || lower.contains("auto scaling group"))
            {
                AwsErrorKind::NotFound
            } else if lower.contains("pending delete") || lower.contains("being deleted") {
                AwsErrorKind::Dependency
            } else {
                AwsErrorKind::InvalidInput
            }
        }
        "InvalidNextToken" | "ServiceLinkedRoleFailure" => AwsErrorKind::InvalidInput,
        "LimitExceeded" | "LimitExceededFault" => AwsErrorKind::LimitExceeded,
        _ => return None,
    })
}

fn classify_app_autoscaling(code: &str, lower: &str) -> Option<AwsErrorKind> {
    Some(match code {
        "ObjectNotFoundException" | "ResourceNotFoundException" => AwsErrorKind::NotFound,
        "ValidationException" => {
            if lower.contains("no scalable target found")
                || lower.contains("no scaling policy found")
            {
                // What DeregisterScalableTarget / DeleteScalingPolicy say of a missing one
                // in some implementations (moto): already gone.
                AwsErrorKind::NotFound
            } else if lower.contains("service doesn't exist")
                || lower.contains("service does not exist")
            {
                // The ECS service just created may not be visible to Application Auto
                // Scaling yet: a state to wait for, not the spec's fault.
                AwsErrorKind::Dependency
            } else {
                AwsErrorKind::InvalidInput
            }
        }
        "InvalidNextTokenException" | "TooManyTagsException" => AwsErrorKind::InvalidInput,
        "LimitExceededException" => AwsErrorKind::LimitExceeded,
        // The service-linked role cannot reach ECS or CloudWatch yet (it is new, or its
        // permissions are being fixed): outside the object, retried slowly.
        "FailedResourceAccessException" => AwsErrorKind::AccessDenied,
        "InternalServiceException" => AwsErrorKind::Transient,
        _ => return None,
    })
}

fn classify_elb(code: &str, lower: &str) -> Option<AwsErrorKind> {
    Some(match code {
        "LoadBalancerNotFound" | "AccessPointNotFound" | "ListenerNotFound" => {
            AwsErrorKind::NotFound
        }
        // ELBv2 (the same `elasticloadbalancing` IAM prefix as classic ELB).
        "TargetGroupNotFound" | "RuleNotFound" => AwsErrorKind::NotFound,
        // A create whose answer was lost did succeed: observe again.
        "DuplicateTargetGroupName" => AwsErrorKind::AlreadyExists,
        // A rule or an ECS service still uses the target group: wait for it to go.
        "ResourceInUse" => AwsErrorKind::Dependency,
        // Another rule holds the priority: only a change of the spec can help.
        "PriorityInUse"
        | "IncompatibleProtocols"
        | "InvalidLoadBalancerAction"
        | "TargetGroupAssociationLimit" => AwsErrorKind::InvalidInput,
        "TooManyTargetGroups" | "TooManyRules" | "TooManyActions" | "TooManyConditions" => {
            AwsErrorKind::LimitExceeded
        }
        "ValidationError" if lower.contains("not found") => AwsErrorKind::NotFound,
        "ValidationError"
        | "InvalidConfigurationRequest"
        | "InvalidSubnet"
        | "InvalidSecurityGroup"
        | "InvalidScheme"
        | "SubnetNotFound"
        | "CertificateNotFound"
        | "UnsupportedProtocol"
        | "InvalidEndPoint"
        | "DuplicateTagKeys"
        | "TooManyTags"
        | "InvalidParameterValue"
        | "InvalidParameterCombination"
        | "MissingParameter" => AwsErrorKind::InvalidInput,
        "TooManyLoadBalancers" | "TooManyAccessPoints" | "OperationNotPermitted" => {
            AwsErrorKind::LimitExceeded
        }
        _ => return None,
    })
}

fn classify_ec2(code: &str) -> Option<AwsErrorKind> {
    Some(match code {
        "InvalidLaunchTemplateName.NotFoundException"
        | "InvalidLaunchTemplateId.NotFound"
        | "InvalidLaunchTemplateId.NotFoundException"
        | "InvalidLaunchTemplateId.VersionNotFound" => AwsErrorKind::NotFound,
        "InvalidParameterValue"
        | "InvalidParameterCombination"
        | "InvalidParameter"
        | "MissingParameter"
        | "UnknownParameter"
        | "InvalidLaunchTemplateName.MalformedException"
        | "InvalidLaunchTemplateId.Malformed"
        | "InvalidAMIID.Malformed"
        | "InvalidAMIID.NotFound"
        | "InvalidAMIID.Unavailable"
        | "InvalidSubnetID.NotFound"
        | "InvalidSubnetID.Malformed"
        | "InvalidGroup.NotFound"
        | "InvalidGroupId.Malformed"
        | "InvalidKeyPair.NotFound"
        | "InvalidUserData.Malformed"
        | "InvalidInstanceType"
        | "InvalidIamInstanceProfile.NotFound"
        | "ValidationError" => AwsErrorKind::InvalidInput,
        "LaunchTemplateVersionLimitExceeded" | "LaunchTemplateLimitExceeded" => {
            AwsErrorKind::LimitExceeded
        }
        _ => return None,
    })
}

/// IAM codes of the reads the operator makes (GetRole, GetInstanceProfile).
fn classify_iam(code: &str) -> Option<AwsErrorKind> {
    Some(match code {
        "NoSuchEntity" | "NoSuchEntityException" => AwsErrorKind::NotFound,
        "ServiceFailure" | "ServiceFailureException" => AwsErrorKind::Transient,
        "InvalidInput" | "ValidationError" => AwsErrorKind::InvalidInput,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_no_such_entity_is_not_found() {
        let msg = "The role with name ecsTaskExecutionRole cannot be found.";
        assert_eq!(
            classify("iam:GetRole", "NoSuchEntity", msg, Some(404)),
            AwsErrorKind::NotFound
        );
        assert_eq!(
            classify("iam:GetInstanceProfile", "ServiceFailure", "", Some(500)),
            AwsErrorKind::Transient
        );
        assert_eq!(
            classify("iam:GetRole", "Throttling", "Rate exceeded", Some(400)),
            AwsErrorKind::Throttled
        );
    }

    #[test]
    fn throttling_codes_are_throttled_in_every_service() {
        for (op, code) in [
            ("ecs:CreateService", "ThrottlingException"),
            ("autoscaling:CreateAutoScalingGroup", "Throttling"),
            ("elasticloadbalancing:CreateLoadBalancer", "Throttling"),
            ("ec2:CreateLaunchTemplate", "RequestLimitExceeded"),
        ] {
            assert_eq!(
                classify(op, code, "", Some(400)),
                AwsErrorKind::Throttled,
                "{code}"
            );
        }
        assert_eq!(
            classify("ecs:X", "", "", Some(429)),
            AwsErrorKind::Throttled
        );
        let concurrent =
            "Too many concurrent attempts to create a new revision of the specified family.";
        assert_eq!(
            classify(
                "ecs:RegisterTaskDefinition",
                "ClientException",
                concurrent,
                Some(400)
            ),
            AwsErrorKind::Throttled
        );
    }

    #[test]
    fn validation_errors_are_terminal_per_service() {
        let cases = [
            (
                "ecs:CreateService",
                "InvalidParameterException",
                "Invalid launch type",
            ),
            (
                "ecs:RegisterTaskDefinition",
                "ClientException",
                "Invalid memory value",
            ),
            (
                "ecs:CreateService",
                "ClientException",
                "Role does not exist",
            ),
            (
                "autoscaling:CreateAutoScalingGroup",
                "ValidationError",
                "bad size",
            ),
            (
                "elasticloadbalancing:CreateLoadBalancer",
                "InvalidSubnet",
                "no such subnet",
            ),
            (
                "elasticloadbalancing:CreateLoadBalancer",
                "ValidationError",
                "name too long",
            ),
            (
                "ec2:CreateLaunchTemplate",
                "InvalidAMIID.Malformed",
                "bad ami",
            ),
        ];
        for (op, code, msg) in cases {
            let k = classify(op, code, msg, Some(400));
            assert_eq!(k, AwsErrorKind::InvalidInput, "{op} {code}");
            assert!(!AwsError::new(k, "op", code, msg).is_retryable());
        }
    }

    #[test]
    fn unknown_codes_retry_instead_of_stalling() {
        let k = classify("ecs:CreateService", "BrandNewException", "", Some(400));
        assert_eq!(k, AwsErrorKind::Unrecognized);
        assert!(AwsError::new(k, "op", "c", "m").is_retryable());
        // A code valid in one service is not an allow-listed validation error of another.
        assert_eq!(
            classify("ecs:CreateService", "InvalidSubnet", "", Some(400)),
            AwsErrorKind::Unrecognized
        );
        assert_eq!(
            classify("ecs:CreateService", "ServerException", "", Some(500)),
            AwsErrorKind::Transient
        );
        assert_eq!(
            classify("ecs:CreateService", "Weird", "", Some(503)),
            AwsErrorKind::Transient
        );
        assert_eq!(classify("ecs:X", "", "", None), AwsErrorKind::Unrecognized);
    }

    #[test]
    fn already_exists_after_a_lost_create_means_observe_again() {
        for (op, code, msg) in [
            (
                "autoscaling:CreateAutoScalingGroup",
                "AlreadyExists",
                "group exists",
            ),
            (
                "elasticloadbalancing:CreateLoadBalancer",
                "DuplicateLoadBalancerName",
                "",
            ),
            (
                "ec2:CreateLaunchTemplate",
                "InvalidLaunchTemplateName.AlreadyExistsException",
                "",
            ),
            (
                "ecs:CreateService",
                "InvalidParameterException",
                "Creation of service was not idempotent.",
            ),
        ] {
            let k = classify(op, code, msg, Some(400));
            assert_eq!(k, AwsErrorKind::AlreadyExists, "{code}");
            assert!(AwsError::new(k, "op", code, msg).is_retryable());
        }
    }

    #[test]
    fn contention_retries() {
        for code in ["ConcurrentUpdate", "ResourceContention", "IncorrectState"] {
            assert_eq!(
                classify("autoscaling:UpdateAutoScalingGroup", code, "", Some(400)),
                AwsErrorKind::Transient,
                "{code}"
            );
        }
        assert_eq!(
            classify(
                "elasticloadbalancing:CreateLoadBalancer",
                "TooManyLoadBalancers",
                "",
                Some(400)
            ),
            AwsErrorKind::LimitExceeded
        );
    }

    #[test]
    fn ecs_client_exception_not_found_depends_on_subject() {
        let op = "ecs:UpdateService";
        assert_eq!(
            classify(op, "ClientException", "Service not found.", Some(400)),
            AwsErrorKind::NotFound
        );
        assert_eq!(
            classify(op, "ClientException", "Role does not exist", Some(400)),
            AwsErrorKind::InvalidInput
        );
        let subnet = "Error retrieving subnet information for [subnet-0dead]: The subnet ID \
                      'subnet-0dead' does not exist (ErrorCode: InvalidSubnetID.NotFound)";
        assert_eq!(
            classify(
                "ecs:CreateService",
                "InvalidParameterException",
                subnet,
                Some(400)
            ),
            AwsErrorKind::InvalidInput
        );
    }

    #[test]
    fn missing_auto_scaling_group_is_not_found() {
        let msg = "AutoScalingGroup name not found - no such group";
        let op = "autoscaling:UpdateAutoScalingGroup";
        assert_eq!(
            classify(op, "ValidationError", msg, Some(400)),
            AwsErrorKind::NotFound
        );
    }

    #[test]
    fn elbv2_errors() {
        for (op, code, kind) in [
            (
                "elasticloadbalancing:DescribeTargetGroups",
                "TargetGroupNotFound",
                AwsErrorKind::NotFound,
            ),
            (
                "elasticloadbalancing:DeleteRule",
                "RuleNotFound",
                AwsErrorKind::NotFound,
            ),
            (
                "elasticloadbalancing:DescribeRules",
                "ListenerNotFound",
                AwsErrorKind::NotFound,
            ),
            (
                "elasticloadbalancing:CreateTargetGroup",
                "DuplicateTargetGroupName",
                AwsErrorKind::AlreadyExists,
            ),
            (
                "elasticloadbalancing:DeleteTargetGroup",
                "ResourceInUse",
                AwsErrorKind::Dependency,
            ),
            (
                "elasticloadbalancing:CreateRule",
                "PriorityInUse",
                AwsErrorKind::InvalidInput,
            ),
            (
                "elasticloadbalancing:CreateRule",
                "ValidationError",
                AwsErrorKind::InvalidInput,
            ),
            (
                "elasticloadbalancing:CreateRule",
                "TooManyRules",
                AwsErrorKind::LimitExceeded,
            ),
        ] {
            assert_eq!(classify(op, code, "", Some(400)), kind, "{code}");
        }
        // Waiting, not stalling, on a target group in use.
        assert!(AwsError::new(
            AwsErrorKind::Dependency,
            "elasticloadbalancing:DeleteTargetGroup",
            "ResourceInUse",
            ""
        )
        .is_retryable());
    }

    #[test]
    fn application_auto_scaling_errors() {
        let op = "application-autoscaling:RegisterScalableTarget";
        let bad = classify(
            op,
            "ValidationException",
            "MaxCapacity must be >= 0",
            Some(400),
        );
        assert_eq!(bad, AwsErrorKind::InvalidInput);
        assert!(!AwsError::new(bad, op, "c", "m").is_retryable());
        for (code, kind) in [
            ("ConcurrentUpdateException", AwsErrorKind::Transient),
            ("LimitExceededException", AwsErrorKind::LimitExceeded),
            ("ObjectNotFoundException", AwsErrorKind::NotFound),
            ("FailedResourceAccessException", AwsErrorKind::AccessDenied),
            ("InternalServiceException", AwsErrorKind::Transient),
        ] {
            assert_eq!(classify(op, code, "", Some(400)), kind, "{code}");
        }
        assert_eq!(
            classify(
                op,
                "ValidationException",
                "ECS service doesn't exist: service/c/s",
                Some(400)
            ),
            AwsErrorKind::Dependency
        );
        assert_eq!(
            classify(
                "application-autoscaling:DeregisterScalableTarget",
                "ValidationException",
                "No scalable target found for service namespace: ecs",
                Some(400)
            ),
            AwsErrorKind::NotFound
        );
        // Another service's validation code is not on this service's allow-list.
        assert_eq!(
            classify(op, "InvalidSubnet", "", Some(400)),
            AwsErrorKind::Unrecognized
        );
    }

    #[test]
    fn dependency_errors_are_retryable() {
        let k = classify(
            "ecs:DeleteCluster",
            "ClusterContainsServicesException",
            "",
            Some(400),
        );
        assert_eq!(k, AwsErrorKind::Dependency);
        assert!(AwsError::new(k, "op", "c", "m").is_retryable());
    }

    #[test]
    fn capacity_provider_errors_wait_or_stall() {
        let cases = [
            // Dependencies: detach, wait for a service or the cluster, then retry.
            (
                "ecs:DeleteCapacityProvider",
                "ClientException",
                "The capacity provider cannot be deleted because it is associated with \
                 cluster: c. Remove the capacity provider from the cluster and try again.",
                AwsErrorKind::Dependency,
            ),
            (
                "ecs:PutClusterCapacityProviders",
                "ResourceInUseException",
                "The specified capacity provider is in use and cannot be removed.",
                AwsErrorKind::Dependency,
            ),
            (
                "ecs:CreateService",
                "InvalidParameterException",
                "The specified capacity provider strategy cannot contain a capacity provider \
                 that is not associated with the cluster.",
                AwsErrorKind::Dependency,
            ),
            (
                "ecs:CreateCapacityProvider",
                "ClientException",
                "The specified Auto Scaling group ARN is already being used by another \
                 capacity provider.",
                AwsErrorKind::Dependency,
            ),
            (
                "ecs:UpdateCapacityProvider",
                "UpdateInProgressException",
                "There is already a current update in progress.",
                AwsErrorKind::Dependency,
            ),
            // A lost create answer: observe again.
            (
                "ecs:CreateCapacityProvider",
                "ClientException",
                "The specified capacity provider already exists.",
                AwsErrorKind::AlreadyExists,
            ),
            (
                "ecs:DeleteCapacityProvider",
                "ClientException",
                "The specified capacity provider does not exist.",
                AwsErrorKind::NotFound,
            ),
            // The spec's fault: stall.
            (
                "ecs:CreateCapacityProvider",
                "ClientException",
                "The specified capacity provider name is invalid. Capacity provider names \
                 cannot be prefixed with aws, ecs, or fargate.",
                AwsErrorKind::InvalidInput,
            ),
        ];
        for (op, code, msg, want) in cases {
            assert_eq!(classify(op, code, msg, Some(400)), want, "{op} {msg}");
        }
    }
}
