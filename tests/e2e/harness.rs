//! The real things the end-to-end test drives: a sandbox (kube-apiserver + etcd + moto from
//! hack/sandbox.sh), the operator binary as a process, kubectl, and AWS SDK clients.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kube::config::{KubeConfigOptions, Kubeconfig};

/// The repository root.
pub fn root() -> PathBuf {
    // Set by `cargo test` for this checkout; the compile-time value names whichever
    // checkout built a binary reused from a shared target dir.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// A running sandbox; stopped (all processes) when dropped, also when a test panics.
pub struct Sandbox {
    pub dir: PathBuf,
    pub env: HashMap<String, String>,
}

impl Sandbox {
    pub fn up(name: &str) -> Sandbox {
        let dir = std::env::temp_dir().join(format!("ecs-operator-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let status = Command::new(root().join("hack/sandbox.sh"))
            .args(["up", "--state-dir"])
            .arg(&dir)
            .env("MOTO_ECS_SERVICE_RUNNING", "4")
            .status()
            .expect("run hack/sandbox.sh");
        let mut sandbox = Sandbox {
            env: HashMap::new(),
            dir,
        };
        assert!(status.success(), "hack/sandbox.sh up failed");
        let env_file = std::fs::read_to_string(sandbox.dir.join("env.sh")).expect("sandbox env.sh");
        sandbox.env = env_file
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
            .collect();
        sandbox
    }

    pub fn kubeconfig(&self) -> &str {
        &self.env["KUBECONFIG"]
    }

    pub fn aws_endpoint(&self) -> &str {
        &self.env["AWS_ENDPOINT_URL"]
    }

    /// A command with the sandbox environment.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.envs(&self.env).current_dir(root());
        c
    }

    /// Run kubectl; returns its output whatever the exit code.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.command("kubectl")
            .args(args)
            .output()
            .expect("run kubectl")
    }

    /// Run kubectl with `stdin`.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .command("kubectl")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("kubectl output")
    }

    /// Run kubectl and insist on success; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The samples (or one sample file) with the sandbox's subnet and security group IDs.
    pub fn render(&self, path: &str) -> String {
        let out = self
            .command(root().join("hack/render-samples.sh"))
            .arg(root().join(path))
            .output()
            .expect("render");
        assert!(
            out.status.success(),
            "render-samples failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run a python script from hack/ with the moto virtualenv.
    pub fn python(&self, script: &str, args: &[&str]) -> Command {
        let py = Command::new(root().join("hack/tools.sh"))
            .args(["path", "moto-python"])
            .output()
            .expect("tools.sh");
        let py = String::from_utf8_lossy(&py.stdout).trim().to_string();
        let mut c = self.command(py);
        c.arg(root().join("hack").join(script)).args(args);
        c
    }

    pub async fn kube_client(&self) -> kube::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let kc = Kubeconfig::read_from(self.kubeconfig()).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .expect("kube config");
        kube::Client::try_from(config).expect("kube client")
    }

    pub async fn aws_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.aws_endpoint())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::for_tests())
            .load()
            .await
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = Command::new(root().join("hack/sandbox.sh"))
            .args(["down", "--state-dir"])
            .arg(&self.dir)
            .status();
    }
}

/// The operator binary running against the sandbox; SIGKILLed when dropped.
pub struct Operator {
    child: Child,
    pub log: PathBuf,
    pub metrics_port: u16,
    pub health_port: u16,
}

impl Operator {
    pub fn start(sb: &Sandbox, name: &str, extra: &[&str]) -> Operator {
        Self::start_with_env(sb, name, extra, &[])
    }

    pub fn start_with_env(
        sb: &Sandbox,
        name: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Operator {
        let log = sb.dir.join(format!("operator-{name}.log"));
        let file = std::fs::File::create(&log).expect("operator log");
        let (metrics_port, health_port) = (free_port(), free_port());
        let child = sb
            .command(env!("CARGO_BIN_EXE_ecs-operator"))
            .args([
                "run",
                "--cluster-id",
                "e2e",
                "--log-format",
                "text",
                "--log-level",
                "info,ecs_operator=debug",
            ])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args(["--health-addr", &format!("127.0.0.1:{health_port}")])
            .args(extra)
            .envs(env.iter().copied())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("start ecs-operator");
        Operator {
            child,
            log,
            metrics_port,
            health_port,
        }
    }

    /// SIGKILL, as a node failure or OOM kill would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "operator did not stop within 20s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let text = self.log_text();
            let tail: Vec<&str> = text.lines().rev().take(60).collect();
            eprintln!("---- operator log tail ({}) ----", self.log.display());
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

/// GET http://127.0.0.1:<port><path> with a plain HTTP/1.0 request; (status line, body).
pub fn http_get(port: u16, path: &str) -> Option<(String, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Poll `f` every 500 ms until it returns Some, or panic after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The status GitOps tools (Flux, kpt, cli-utils' kstatus) compute for one object of the
/// sandbox, and its message: `kubectl get <resource> <name> -n <namespace> -o json` piped
/// through the kstatus tool (hack/kstatus, `hack/tools.sh kstatus`; built here if missing).
/// The status is one of Current, InProgress, Failed, Terminating, NotFound, Unknown; an
/// object kubectl does not find is ("NotFound", kubectl's message).
#[allow(dead_code)] // the harness is compiled into test crates that may not call it
pub fn kstatus(sb: &Sandbox, resource: &str, namespace: &str, name: &str) -> (String, String) {
    use std::io::Write;
    let tools = root().join("hack/tools.sh");
    let tools = tools.as_path();
    let mut path = Command::new(tools)
        .args(["path", "kstatus"])
        .output()
        .expect("run hack/tools.sh path kstatus");
    if !path.status.success() {
        let build = Command::new(tools)
            .arg("kstatus")
            .output()
            .expect("run hack/tools.sh kstatus");
        assert!(
            build.status.success(),
            "hack/tools.sh kstatus failed: {}",
            stderr(&build)
        );
        path = Command::new(tools)
            .args(["path", "kstatus"])
            .output()
            .expect("run hack/tools.sh path kstatus");
        assert!(
            path.status.success(),
            "hack/tools.sh path kstatus failed: {}",
            stderr(&path)
        );
    }
    let tool = String::from_utf8_lossy(&path.stdout).trim().to_string();

    let get = sb.kubectl(&["get", resource, name, "-n", namespace, "-o", "json"]);
    if !get.status.success() {
        let err = stderr(&get);
        assert!(
            err.contains("NotFound") || err.contains("not found"),
            "kubectl get {resource} {name} -n {namespace} failed: {err}"
        );
        return ("NotFound".to_string(), err.trim().to_string());
    }
    let mut child = sb
        .command(tool)
        .arg("--json")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kstatus");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&get.stdout)
        .expect("write kstatus stdin");
    let out = child.wait_with_output().expect("kstatus output");
    assert!(
        out.status.success(),
        "kstatus failed on {resource}/{name}: {}",
        stderr(&out)
    );
    let results: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("kstatus --json output");
    assert_eq!(
        results.len(),
        1,
        "kstatus: expected one result for {resource}/{name}, got {results:?}"
    );
    let field = |k: &str| results[0][k].as_str().unwrap_or_default().to_string();
    (field("status"), field("message"))
}

impl Sandbox {
    /// Restart one process of the sandbox (`etcd`, `kube-apiserver`, `moto`) with the same
    /// command line (`hack/sandbox.sh restart`); returns once it answers again.
    #[allow(dead_code)] // the harness is compiled into test crates that may not call it
    pub fn restart(&self, process: &str) {
        let out = Command::new(root().join("hack/sandbox.sh"))
            .args(["restart", process, "--state-dir"])
            .arg(&self.dir)
            .output()
            .expect("run hack/sandbox.sh restart");
        assert!(
            out.status.success(),
            "hack/sandbox.sh restart {process} failed: {}",
            stderr(&out)
        );
    }
}

impl Operator {
    /// The operator with `--cluster-id cluster_id` (instead of `e2e`) and `extra` flags;
    /// its output is appended to `operator-<name>.log`, so restarts of one operator
    /// share a log.
    #[allow(dead_code)] // the harness is compiled into test crates that may not call it
    pub fn start_as(
        sb: &Sandbox,
        name: &str,
        cluster_id: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Operator {
        let log = sb.dir.join(format!("operator-{name}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("operator log");
        let (metrics_port, health_port) = (free_port(), free_port());
        let child = sb
            .command(env!("CARGO_BIN_EXE_ecs-operator"))
            .args(["run", "--cluster-id", cluster_id])
            .args([
                "--log-format",
                "text",
                "--log-level",
                "info,ecs_operator=debug",
            ])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args(["--health-addr", &format!("127.0.0.1:{health_port}")])
            .args(extra)
            .envs(env.iter().copied())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("start ecs-operator");
        Operator {
            child,
            log,
            metrics_port,
            health_port,
        }
    }

    /// The operator's process id.
    #[allow(dead_code)] // the harness is compiled into test crates that may not call it
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// One HTTP/1.1 request to http://127.0.0.1:<port><path> (`Connection: close`, the body
/// sent with its length); (status code, body), or None when the connection fails.
#[allow(dead_code)] // the harness is compiled into test crates that may not call it
pub fn http_request(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n")?;
    let code = head
        .lines()
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some((code, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

impl Operator {
    /// The exit status, if the process has exited (without waiting).
    #[allow(dead_code)] // the harness is compiled into test crates that may not call it
    pub fn try_exit(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Operator {
    /// Whether the process is still running (false once it exited, whatever the cause).
    #[allow(dead_code)] // the harness is compiled into test crates that may not call it
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}
