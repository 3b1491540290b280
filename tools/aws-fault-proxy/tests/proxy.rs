//! The real binary in front of a tiny in-test upstream that answers 200 and counts what
//! reaches it. Every assertion is about what was answered and what was forwarded, never
//! about how long something took.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------- the upstream

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path_and_query: String,
    headers: HeaderMap,
    body: Bytes,
}

/// A stand-in for moto: answers 200 `{"ok":true}` (or the status in `x-test-status`)
/// and keeps every request.
struct Upstream {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    hits: Arc<AtomicUsize>,
}

impl Upstream {
    async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hits = Arc::new(AtomicUsize::new(0));
        let (seen2, hits2) = (seen.clone(), hits.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let (seen, hits) = (seen2.clone(), hits2.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (seen, hits) = (seen.clone(), hits.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await.unwrap().to_bytes();
                            let status = parts
                                .headers
                                .get("x-test-status")
                                .and_then(|v| v.to_str().ok()?.parse().ok())
                                .unwrap_or(200u16);
                            seen.lock().unwrap().push(Seen {
                                method: parts.method.to_string(),
                                path_and_query: parts.uri.path_and_query().unwrap().to_string(),
                                headers: parts.headers,
                                body,
                            });
                            hits.fetch_add(1, Ordering::SeqCst);
                            let mut resp =
                                Response::new(Full::new(Bytes::from_static(br#"{"ok":true}"#)));
                            *resp.status_mut() = StatusCode::from_u16(status).unwrap();
                            resp.headers_mut()
                                .insert("x-upstream", "moto-stand-in".parse().unwrap());
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Upstream {
            url: format!("http://{addr}"),
            seen,
            hits,
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------- the proxy binary

struct ProxyProcess {
    child: Child,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
    _dir: TempDir,
    record: std::path::PathBuf,
}

/// A scratch directory removed on drop (no tempfile crate for one directory).
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "aws-fault-proxy-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl ProxyProcess {
    fn start(upstream: &Upstream, rules: Value, seed: u64) -> ProxyProcess {
        let dir = TempDir::new();
        let rules_path = dir.0.join("rules.json");
        std::fs::write(&rules_path, rules.to_string()).unwrap();
        let record = dir.0.join("record.jsonl");
        let mut child = Command::new(env!("CARGO_BIN_EXE_aws-fault-proxy"))
            .args(["--listen", "127.0.0.1:0", "--upstream", &upstream.url])
            .arg("--rules")
            .arg(&rules_path)
            .args(["--seed", &seed.to_string()])
            .arg("--record")
            .arg(&record)
            .env("AWS_FAULT_PROXY_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        ProxyProcess {
            child,
            stdout,
            addr,
            _dir: dir,
            record,
        }
    }

    /// SIGTERM, then everything it printed after the `listening on` line.
    fn terminate(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "exit status {exit}");
        rest
    }

    fn record_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.record)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    async fn summary(&self) -> Value {
        let r = send(self.addr, get("/__proxy/summary")).await.unwrap();
        assert_eq!(r.status, StatusCode::OK);
        serde_json::from_slice(&r.body).unwrap()
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- a client

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request on a fresh connection; `Err` when the connection broke.
async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Result<Answer, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", "proxy")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn auth(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDTEST/20261129/us-east-1/{service}/aws4_request, \
         SignedHeaders=content-length;content-type;host;x-amz-date, Signature=0123456789abcdef"
    )
}

/// An ECS JSON 1.1 call as aws-sdk-ecs sends it.
fn ecs(op: &str, body: Value) -> Request<Full<Bytes>> {
    Request::post("/")
        .header("host", "ecs.us-east-1.amazonaws.com")
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "x-amz-target",
            format!("AmazonEC2ContainerServiceV20141113.{op}"),
        )
        .header("x-amz-date", "20261129T234448Z")
        .header("authorization", auth("ecs"))
        .header("amz-sdk-request", "attempt=1; max=3")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// A Query protocol call (Auto Scaling, ELB, EC2, STS).
fn query(service: &str, body: &str) -> Request<Full<Bytes>> {
    Request::post("/")
        .header("host", format!("{service}.us-east-1.amazonaws.com"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-amz-date", "20261129T234448Z")
        .header("authorization", auth(service))
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn create_service(name: &str) -> Request<Full<Bytes>> {
    ecs(
        "CreateService",
        json!({"cluster":"demo","serviceName":name,"taskDefinition":"webapp:1","desiredCount":2}),
    )
}

/// Writes a raw request and reads until the connection ends: the bytes read, or the
/// error that ended it.
async fn raw_exchange(addr: SocketAddr, request: &str) -> Result<Vec<u8>, std::io::Error> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::new();
    // Only a guard against a hang turning into a stuck test run; no assertion on time.
    match tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut buf)).await {
        Ok(Ok(_)) => Ok(buf),
        Ok(Err(e)) => Err(e),
        Err(_) => panic!("the proxy neither answered nor closed within 30 s"),
    }
}

fn raw_create_service() -> String {
    let body = r#"{"cluster":"demo","serviceName":"web","taskDefinition":"webapp:1"}"#;
    format!(
        "POST / HTTP/1.1\r\nhost: ecs.us-east-1.amazonaws.com\r\ncontent-type: application/x-amz-json-1.1\r\n\
         x-amz-target: AmazonEC2ContainerServiceV20141113.CreateService\r\nauthorization: {}\r\n\
         content-length: {}\r\n\r\n{body}",
        auth("ecs"),
        body.len()
    )
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_answers_in_each_wire_format_without_forwarding() {
    let upstream = Upstream::start().await;
    let proxy = ProxyProcess::start(
        &upstream,
        json!({"faults": [{"kind": "throttle", "probability": 1.0}]}),
        1,
    );

    let r = send(proxy.addr, create_service("web")).await.unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.header("x-amzn-errortype"), Some("ThrottlingException"));
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        body,
        json!({"__type":"ThrottlingException","message":"Rate exceeded"})
    );

    let r = send(
        proxy.addr,
        query(
            "autoscaling",
            "Action=CreateAutoScalingGroup&Version=2011-01-01&AutoScalingGroupName=demo-asg&MinSize=0&MaxSize=5",
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.header("content-type"), Some("text/xml"));
    let text = r.text();
    assert!(
        text.starts_with(
            "<ErrorResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>"
        ),
        "{text}"
    );

    let r = send(
        proxy.addr,
        query(
            "elasticloadbalancing",
            "Action=CreateLoadBalancer&Version=2012-06-01&LoadBalancerName=web-elb",
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains(
        "xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/\"><Error><Type>Sender</Type><Code>Throttling</Code>"
    ));

    let r = send(
        proxy.addr,
        query(
            "ec2",
            "Action=DescribeLaunchTemplates&Version=2016-11-15&LaunchTemplateName.1=demo-lt",
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().starts_with(
        "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>"
    ));

    assert_eq!(upstream.hits(), 0, "throttled calls must not be forwarded");

    // STS is not faulted: it passes through.
    let r = send(
        proxy.addr,
        query("sts", "Action=GetCallerIdentity&Version=2011-06-15"),
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(upstream.hits(), 1);

    let s = proxy.summary().await;
    assert_eq!(s["total_calls"], 5);
    assert_eq!(s["faults"]["throttle"], 4);
    assert_eq!(s["faults"]["reset"], 0);
    assert_eq!(s["calls"]["ecs:CreateService"]["total"], 1);
    assert_eq!(s["calls"]["ecs:CreateService"]["outcomes"]["throttled"], 1);
    assert_eq!(
        s["calls"]["autoscaling:CreateAutoScalingGroup"]["outcomes"]["throttled"],
        1
    );
    assert_eq!(
        s["calls"]["other:GetCallerIdentity"]["outcomes"]["forwarded"],
        1
    );
    assert_eq!(s["successful_mutations"], json!({}));

    let lines = proxy.record_lines();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["service"], "ecs");
    assert_eq!(lines[0]["operation"], "CreateService");
    assert_eq!(lines[0]["resource"], "web");
    assert_eq!(lines[0]["mutating"], true);
    assert_eq!(lines[0]["outcome"], "throttled");
    assert_eq!(lines[0]["upstream_status"], Value::Null);
    assert_eq!(lines[4]["service"], "other");
    assert_eq!(lines[4]["upstream_status"], 200);

    let table = proxy.terminate();
    assert!(table.contains("aws-fault-proxy: 5 calls"), "{table}");
    assert!(table.contains("ecs:CreateService"), "{table}");
    assert!(table.contains("throttle=4"), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_server_errors() {
    let upstream = Upstream::start().await;
    let proxy = ProxyProcess::start(
        &upstream,
        json!({"faults": [
            {"kind": "error500", "probability": 1.0, "services": ["ecs", "ec2"]},
            {"kind": "error503", "probability": 1.0, "services": ["elasticloadbalancing"]}
        ]}),
        1,
    );
    let r = send(proxy.addr, create_service("web")).await.unwrap();
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.header("x-amzn-errortype"), Some("ServerException"));
    let r = send(
        proxy.addr,
        query(
            "ec2",
            "Action=CreateTags&Version=2016-11-15&ResourceId.1=lt-1",
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(r.text().contains("<Code>InternalError</Code>"));
    let r = send(
        proxy.addr,
        query(
            "elasticloadbalancing",
            "Action=DeleteLoadBalancer&Version=2012-06-01&LoadBalancerName=web-elb",
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().contains("<Code>ServiceUnavailable</Code>"));
    // Auto Scaling matches no rule.
    let r = send(
        proxy.addr,
        query(
            "autoscaling",
            "Action=DescribeAutoScalingGroups&Version=2011-01-01",
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(upstream.hits(), 1);
    let s = proxy.summary().await;
    assert_eq!(s["faults"]["error500"], 2);
    assert_eq!(s["faults"]["error503"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_response_forwards_but_the_client_sees_a_reset() {
    let upstream = Upstream::start().await;
    let proxy = ProxyProcess::start(
        &upstream,
        json!({"faults": [{"kind": "lost_response", "probability": 1.0, "mutating_only": true}]}),
        1,
    );

    // Raw socket: the connection must end in a reset, with no answer bytes at all.
    let err = raw_exchange(proxy.addr, &raw_create_service())
        .await
        .expect_err("a lost response must not reach the client");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    assert_eq!(
        upstream.hits(),
        1,
        "the write must have reached the upstream"
    );

    // Through an HTTP client: an error, and again the upstream got it.
    let err = send(proxy.addr, create_service("web"))
        .await
        .expect_err("a lost response must not reach the client");
    assert!(!err.is_empty());
    assert_eq!(upstream.hits(), 2);

    // Reads are not faulted by a mutating_only rule.
    let r = send(
        proxy.addr,
        ecs(
            "DescribeServices",
            json!({"cluster":"demo","services":["web"]}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(upstream.hits(), 3);

    let s = proxy.summary().await;
    assert_eq!(
        s["calls"]["ecs:CreateService"]["outcomes"]["lost_response"],
        2
    );
    assert_eq!(s["faults"]["lost_response"], 2);
    // Both creates happened upstream: the duplicate is visible.
    assert_eq!(s["successful_mutations"]["ecs:CreateService"]["web"], 2);
    assert_eq!(
        s["duplicate_creates"],
        json!([{"call":"ecs:CreateService","resource":"web","detail":null,"count":2}])
    );
    let lines = proxy.record_lines();
    let lost: Vec<&Value> = lines
        .iter()
        .filter(|l| l["outcome"] == "lost_response")
        .collect();
    assert_eq!(lost.len(), 2);
    assert!(lost.iter().all(|l| l["upstream_status"] == 200));

    let table = proxy.terminate();
    assert!(
        table.contains("resources created more than once:\n  ecs:CreateService web: 2"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_closes_the_connection_without_forwarding() {
    let upstream = Upstream::start().await;
    let proxy = ProxyProcess::start(
        &upstream,
        json!({"faults": [{"kind": "reset", "probability": 1.0, "operations": ["CreateService"]}]}),
        1,
    );
    let err = raw_exchange(proxy.addr, &raw_create_service())
        .await
        .expect_err("a reset connection must not answer");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    assert!(send(proxy.addr, create_service("web")).await.is_err());
    assert_eq!(upstream.hits(), 0);
    let s = proxy.summary().await;
    assert_eq!(s["faults"]["reset"], 2);
    assert_eq!(s["calls"]["ecs:CreateService"]["outcomes"]["reset"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_rules_switches_faults_off() {
    let upstream = Upstream::start().await;
    let proxy = ProxyProcess::start(
        &upstream,
        json!({"faults": [{"kind": "throttle", "probability": 1.0}]}),
        1,
    );
    let r = send(proxy.addr, create_service("web")).await.unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // A bad document is refused and changes nothing.
    let bad = Request::put("/__proxy/rules")
        .header("host", "proxy")
        .body(Full::new(Bytes::from_static(
            br#"{"faults":[{"kind":"throttle","probability":2}]}"#,
        )))
        .unwrap();
    let r = send(proxy.addr, bad).await.unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("probability"), "{}", r.text());
    let r = send(proxy.addr, create_service("web")).await.unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(upstream.hits(), 0);

    let off = Request::put("/__proxy/rules")
        .header("host", "proxy")
        .body(Full::new(Bytes::from_static(br#"{"faults":[]}"#)))
        .unwrap();
    let r = send(proxy.addr, off).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = send(proxy.addr, get("/__proxy/rules")).await.unwrap();
    let rules: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(rules["faults"], json!([]));

    let r = send(proxy.addr, create_service("web")).await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), r#"{"ok":true}"#);
    assert_eq!(upstream.hits(), 1);
    let s = proxy.summary().await;
    assert_eq!(s["calls"]["ecs:CreateService"]["outcomes"]["throttled"], 2);
    assert_eq!(s["calls"]["ecs:CreateService"]["outcomes"]["forwarded"], 1);

    // Reset clears counters and the record file.
    let r = send(
        proxy.addr,
        Request::post("/__proxy/reset")
            .header("host", "proxy")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    let s = proxy.summary().await;
    assert_eq!(s["total_calls"], 0);
    assert_eq!(s["calls"], json!({}));
    assert!(proxy.record_lines().is_empty());
    send(proxy.addr, create_service("api")).await.unwrap();
    let lines = proxy.record_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["resource"], "api");
    let r = send(proxy.addr, get("/__proxy/record")).await.unwrap();
    assert_eq!(r.text().lines().count(), 1);
    let r = send(proxy.addr, get("/__proxy/nothing")).await.unwrap();
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_token_buckets_throttle_without_forwarding() {
    let upstream = Upstream::start().await;
    // No refill: the bucket's state does not depend on how fast the test runs.
    let proxy = ProxyProcess::start(
        &upstream,
        json!({
            "enforce_aws_limits": true,
            "buckets": {"ecs.service_modify": {"capacity": 2, "refill_per_sec": 0}}
        }),
        1,
    );
    for name in ["a", "b"] {
        let r = send(proxy.addr, create_service(name)).await.unwrap();
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = send(
        proxy.addr,
        ecs(
            "UpdateService",
            json!({"cluster":"demo","service":"a","desiredCount":1}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.header("x-amzn-errortype"), Some("ThrottlingException"));
    assert_eq!(upstream.hits(), 2);
    // Another bucket is untouched.
    let r = send(
        proxy.addr,
        ecs(
            "DescribeServices",
            json!({"cluster":"demo","services":["a"]}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    let s = proxy.summary().await;
    assert_eq!(s["throttled_bucket"], 1);
    assert_eq!(
        s["calls"]["ecs:UpdateService"]["outcomes"]["throttled_bucket"],
        1
    );
    assert_eq!(s["faults"]["throttle"], 0);

    // New rules bring new, full buckets.
    let r = send(
        proxy.addr,
        Request::put("/__proxy/rules")
            .header("host", "proxy")
            .body(Full::new(Bytes::from_static(
                br#"{"enforce_aws_limits":true,"buckets":{"ecs.service_modify":{"capacity":1,"refill_per_sec":0}}}"#,
            )))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    let statuses = [
        send(proxy.addr, create_service("c")).await.unwrap().status,
        send(proxy.addr, create_service("d")).await.unwrap().status,
    ];
    assert_eq!(statuses, [StatusCode::OK, StatusCode::BAD_REQUEST]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_faithfully_with_keep_alive() {
    let upstream = Upstream::start().await;
    let proxy = ProxyProcess::start(&upstream, json!({}), 1);

    let stream = TcpStream::connect(proxy.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let body = "Action=DescribeLoadBalancers&Version=2012-06-01&LoadBalancerNames.member.1=web-elb";
    for i in 0..3 {
        let req = Request::post("/some/path?x=1&y=%2F")
            .header("host", "elasticloadbalancing.us-east-1.amazonaws.com")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", auth("elasticloadbalancing"))
            .header("x-custom", format!("v{i}"))
            .header("x-test-status", if i == 2 { "400" } else { "200" })
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        sender.ready().await.unwrap();
        let resp = sender.send_request(req).await.unwrap();
        let expected = if i == 2 { 400 } else { 200 };
        assert_eq!(resp.status().as_u16(), expected);
        assert_eq!(resp.headers()["x-upstream"], "moto-stand-in");
        let got = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&got[..], br#"{"ok":true}"#);
    }
    let seen = upstream.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    let first = &seen[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path_and_query, "/some/path?x=1&y=%2F");
    assert_eq!(
        first.headers["host"],
        "elasticloadbalancing.us-east-1.amazonaws.com"
    );
    assert_eq!(first.headers["x-custom"], "v0");
    assert_eq!(
        first.headers["authorization"].to_str().unwrap(),
        auth("elasticloadbalancing")
    );
    assert_eq!(&first.body[..], body.as_bytes());

    let s = proxy.summary().await;
    let calls = &s["calls"]["elasticloadbalancing:DescribeLoadBalancers"];
    assert_eq!(calls["total"], 3);
    assert_eq!(calls["outcomes"]["forwarded"], 3);
    let lines = proxy.record_lines();
    assert_eq!(lines[0]["resource"], "web-elb");
    assert_eq!(lines[2]["upstream_status"], 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_connections() {
    let upstream = Upstream::start().await;
    let proxy = ProxyProcess::start(&upstream, json!({}), 1);
    let addr = proxy.addr;
    let tasks: Vec<_> = (0..64)
        .map(|i| tokio::spawn(async move { send(addr, create_service(&format!("s{i}"))).await }))
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().status, StatusCode::OK);
    }
    assert_eq!(upstream.hits(), 64);
    let s = proxy.summary().await;
    assert_eq!(s["total_calls"], 64);
    assert_eq!(
        s["successful_mutations"]["ecs:CreateService"]
            .as_object()
            .unwrap()
            .len(),
        64
    );
    assert_eq!(s["duplicate_creates"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_same_faults() {
    let upstream = Upstream::start().await;
    let rules = json!({"faults": [
        {"kind": "throttle", "probability": 0.4},
        {"kind": "error503", "probability": 0.2}
    ]});
    async fn statuses(upstream: &Upstream, rules: &Value, seed: u64) -> Vec<u16> {
        let proxy = ProxyProcess::start(upstream, rules.clone(), seed);
        let mut statuses = Vec::new();
        for i in 0..40 {
            let r = send(proxy.addr, create_service(&format!("s{i}")))
                .await
                .unwrap();
            statuses.push(r.status.as_u16());
        }
        statuses
    }
    let run = |seed| statuses(&upstream, &rules, seed);
    let a = run(7).await;
    let b = run(7).await;
    let c = run(8).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    let counts = a.iter().fold(HashMap::new(), |mut m, s| {
        *m.entry(*s).or_insert(0) += 1;
        m
    });
    // All three answers occur in 40 draws at these odds (fixed by the seed).
    assert!(counts.contains_key(&200) && counts.contains_key(&400) && counts.contains_key(&503));
}

#[test]
fn bad_rules_file_fails_fast() {
    let dir = TempDir::new();
    let rules = dir.0.join("rules.json");
    std::fs::write(&rules, r#"{"faults":[{"kind":"nope","probability":1}]}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aws-fault-proxy"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "http://127.0.0.1:1",
        ])
        .arg("--rules")
        .arg(&rules)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown variant"), "{err}");
}

#[test]
fn the_example_rules_file_loads() {
    // Read at compile time: a test binary reused from a cache built in another checkout
    // must not look for the file there.
    let text = include_str!("../examples/chaos.json");
    aws_fault_proxy::Rules::from_json(text).unwrap();
}
