//! Error answers in each service's real wire format, so the SDK parses them exactly as
//! it would AWS's (error code, retry classification) and the operator's error mapping
//! is exercised for real.

use crate::identify::Service;

/// Which error to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Rate exceeded (a throttling error the SDK retries with backoff).
    Throttling,
    /// HTTP 500, an internal error.
    Internal,
    /// HTTP 503, service unavailable.
    Unavailable,
}

/// A complete error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    /// HTTP status code.
    pub status: u16,
    /// Headers besides `content-length` (which the server adds).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: String,
}

/// The error answer `service` gives for `kind`. `api_version` is the Query protocol
/// version the client sent (for the XML namespace); `request_id` a UUID.
pub fn error_reply(
    service: Service,
    api_version: Option<&str>,
    kind: ErrorKind,
    request_id: &str,
) -> ErrorReply {
    match service {
        Service::Ecs => ecs(kind, request_id),
        Service::Ec2 => ec2(kind, request_id),
        Service::AutoScaling => query(
            "autoscaling",
            api_version.unwrap_or("2011-01-01"),
            kind,
            request_id,
        ),
        // Other services are never faulted; should one be, the generic Query shape
        // is the least surprising answer.
        Service::Elb | Service::Other => query(
            "elasticloadbalancing",
            api_version.unwrap_or("2012-06-01"),
            kind,
            request_id,
        ),
    }
}

/// ECS (JSON 1.1): the code is in `x-amzn-ErrorType` and `__type`.
fn ecs(kind: ErrorKind, request_id: &str) -> ErrorReply {
    let (status, code, message) = match kind {
        ErrorKind::Throttling => (400, "ThrottlingException", "Rate exceeded"),
        ErrorKind::Internal => (
            500,
            "ServerException",
            "Service encountered an internal error.",
        ),
        ErrorKind::Unavailable => (
            503,
            "ServiceUnavailableException",
            "Service Unavailable. Please try again later.",
        ),
    };
    let body = serde_json::json!({ "__type": code, "message": message }).to_string();
    ErrorReply {
        status,
        headers: vec![
            ("content-type", "application/x-amz-json-1.1".to_string()),
            ("x-amzn-ErrorType", code.to_string()),
            ("x-amzn-RequestId", request_id.to_string()),
        ],
        body,
    }
}

/// Auto Scaling and classic ELB (awsQuery): `<ErrorResponse>` in the API's namespace.
fn query(namespace_host: &str, version: &str, kind: ErrorKind, request_id: &str) -> ErrorReply {
    let (status, fault, code, message) = match kind {
        ErrorKind::Throttling => (400, "Sender", "Throttling", "Rate exceeded"),
        ErrorKind::Internal => (
            500,
            "Receiver",
            "InternalFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
        ),
        ErrorKind::Unavailable => (
            503,
            "Receiver",
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
        ),
    };
    let body = format!(
        "<ErrorResponse xmlns=\"http://{namespace_host}.amazonaws.com/doc/{version}/\">\
         <Error><Type>{fault}</Type><Code>{code}</Code><Message>{message}</Message></Error>\
         <RequestId>{request_id}</RequestId></ErrorResponse>"
    );
    ErrorReply {
        status,
        headers: xml_headers(request_id),
        body,
    }
}

/// EC2 (ec2Query): `<Response><Errors>` and `RequestID`; throttling is a 503.
fn ec2(kind: ErrorKind, request_id: &str) -> ErrorReply {
    let (status, code, message) = match kind {
        ErrorKind::Throttling => (503, "RequestLimitExceeded", "Request limit exceeded."),
        ErrorKind::Internal => (500, "InternalError", "An internal error has occurred."),
        ErrorKind::Unavailable => (
            503,
            "Unavailable",
            "The server is overloaded and can't handle the request.",
        ),
    };
    let body = format!(
        "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>\
         <RequestID>{request_id}</RequestID></Response>"
    );
    ErrorReply {
        status,
        headers: xml_headers(request_id),
        body,
    }
}

fn xml_headers(request_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "text/xml".to_string()),
        ("x-amzn-RequestId", request_id.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b9a4c3e-8f7d-4e6a-9c2b-1d3e5f7a9b0c";

    fn header<'a>(r: &'a ErrorReply, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn ecs_throttling() {
        let r = error_reply(Service::Ecs, None, ErrorKind::Throttling, ID);
        assert_eq!(r.status, 400);
        assert_eq!(header(&r, "x-amzn-ErrorType"), Some("ThrottlingException"));
        assert_eq!(
            header(&r, "content-type"),
            Some("application/x-amz-json-1.1")
        );
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"__type": "ThrottlingException", "message": "Rate exceeded"})
        );
    }

    #[test]
    fn ecs_server_errors() {
        let r = error_reply(Service::Ecs, None, ErrorKind::Internal, ID);
        assert_eq!(r.status, 500);
        assert_eq!(header(&r, "x-amzn-ErrorType"), Some("ServerException"));
        assert!(r.body.contains(r#""__type":"ServerException""#));
        let r = error_reply(Service::Ecs, None, ErrorKind::Unavailable, ID);
        assert_eq!(r.status, 503);
        assert!(r.body.contains(r#""__type":"ServiceUnavailableException""#));
    }

    #[test]
    fn autoscaling_throttling() {
        let r = error_reply(
            Service::AutoScaling,
            Some("2011-01-01"),
            ErrorKind::Throttling,
            ID,
        );
        assert_eq!(r.status, 400);
        assert_eq!(header(&r, "content-type"), Some("text/xml"));
        assert_eq!(
            r.body,
            format!(
                "<ErrorResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\">\
                 <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>\
                 <RequestId>{ID}</RequestId></ErrorResponse>"
            )
        );
    }

    #[test]
    fn elb_throttling_and_server_errors() {
        let r = error_reply(Service::Elb, None, ErrorKind::Throttling, ID);
        assert_eq!(r.status, 400);
        assert!(r.body.starts_with(
            "<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/\">"
        ));
        assert!(r.body.contains("<Code>Throttling</Code>"));
        let r = error_reply(Service::Elb, Some("2012-06-01"), ErrorKind::Internal, ID);
        assert_eq!(r.status, 500);
        assert!(r
            .body
            .contains("<Type>Receiver</Type><Code>InternalFailure</Code>"));
        let r = error_reply(Service::AutoScaling, None, ErrorKind::Unavailable, ID);
        assert_eq!(r.status, 503);
        assert!(r.body.contains("<Code>ServiceUnavailable</Code>"));
    }

    #[test]
    fn ec2_formats() {
        let r = error_reply(Service::Ec2, Some("2016-11-15"), ErrorKind::Throttling, ID);
        assert_eq!(r.status, 503);
        assert_eq!(
            r.body,
            format!(
                "<Response><Errors><Error><Code>RequestLimitExceeded</Code>\
                 <Message>Request limit exceeded.</Message></Error></Errors>\
                 <RequestID>{ID}</RequestID></Response>"
            )
        );
        let r = error_reply(Service::Ec2, None, ErrorKind::Internal, ID);
        assert_eq!(r.status, 500);
        assert!(r.body.contains("<Code>InternalError</Code>"));
        let r = error_reply(Service::Ec2, None, ErrorKind::Unavailable, ID);
        assert_eq!(r.status, 503);
        assert!(r.body.contains("<Code>Unavailable</Code>"));
    }
}
