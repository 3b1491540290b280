//! tools/aws-fault-proxy between an operator and moto: every AWS call of both operators is
//! counted by the same code, and with `{"enforce_aws_limits": true}` AWS's token buckets
//! answer throttling errors as AWS would.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::json;

use crate::http;
use crate::process::Process;

/// Whether the proxy enforces AWS's token buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Limits {
    /// Everything forwarded: moto never throttles.
    Unlimited,
    /// AWS's published buckets (shared/testing.md, "AWS API limits") enforced.
    AwsBuckets,
}

impl Limits {
    /// Parse the name used on the command line and in results.
    pub fn parse(s: &str) -> Result<Limits, String> {
        match s {
            "unlimited" => Ok(Limits::Unlimited),
            "aws-limits" => Ok(Limits::AwsBuckets),
            _ => Err(format!("unknown mode {s:?} (unlimited or aws-limits)")),
        }
    }

    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Limits::Unlimited => "unlimited",
            Limits::AwsBuckets => "aws-limits",
        }
    }

    /// The proxy's rules file.
    pub fn rules(self) -> serde_json::Value {
        match self {
            Limits::Unlimited => json!({}),
            Limits::AwsBuckets => json!({ "enforce_aws_limits": true }),
        }
    }
}

/// The part of `GET /__proxy/summary` the benchmark reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Summary {
    /// Every call so far (including STS and other non-AWS-service calls).
    pub total_calls: u64,
    /// Calls refused because an AWS bucket was empty.
    #[serde(default)]
    pub throttled_bucket: u64,
    /// Per `service:Operation`.
    #[serde(default)]
    pub calls: BTreeMap<String, CallCounts>,
}

/// Counters of one `service:Operation`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallCounts {
    /// Calls seen.
    pub total: u64,
}

/// Whether `service:Operation` is a write to an AWS service: not `Describe*`, `List*`,
/// `Get*` (the proxy's classification), STS and moto's own API (`other:`) left out.
pub fn is_write(key: &str) -> bool {
    let (service, op) = key.split_once(':').unwrap_or(("", key));
    service != "other"
        && !(op.starts_with("Describe") || op.starts_with("List") || op.starts_with("Get"))
}

/// One line of the proxy's call record.
#[derive(Debug, Clone, Deserialize)]
pub struct RecordLine {
    /// Arrival, milliseconds since the Unix epoch.
    pub t_ms: u64,
    /// Operation name.
    pub operation: String,
    /// The resource the call named, if any.
    pub resource: Option<String>,
    /// moto's HTTP status, when it was asked.
    pub upstream_status: Option<u16>,
}

impl RecordLine {
    /// Whether moto answered 2xx.
    pub fn succeeded(&self) -> bool {
        matches!(self.upstream_status, Some(200..=299))
    }
}

/// A running proxy; SIGKILLed when dropped.
pub struct Proxy {
    process: Process,
    port: u16,
    record: PathBuf,
}

impl Proxy {
    /// Starts the proxy in front of `upstream` with `limits`, its record and log in `dir`.
    pub async fn start(binary: &Path, upstream: &str, limits: Limits, dir: &Path) -> Result<Proxy> {
        let rules = dir.join("proxy-rules.json");
        std::fs::write(&rules, limits.rules().to_string())
            .with_context(|| format!("writing {}", rules.display()))?;
        let record = dir.join("proxy-record.jsonl");
        let log = std::fs::File::create(dir.join("proxy.log")).context("creating proxy.log")?;
        let mut cmd = Command::new(binary);
        cmd.args(["--listen", "127.0.0.1:0", "--upstream", upstream])
            .arg("--rules")
            .arg(&rules)
            .arg("--record")
            .arg(&record)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut process = Process::spawn_configured("aws-fault-proxy", cmd)?;
        let stdout = process
            .child_mut()
            .stdout
            .take()
            .context("the proxy's stdout")?;
        let table = dir.join("proxy-summary.txt");
        // The first line says where it listens; the rest (the table it prints at exit) goes
        // to a file.
        let line = tokio::task::spawn_blocking(move || -> Result<String> {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            reader.read_line(&mut line)?;
            std::thread::spawn(move || {
                if let Ok(mut f) = std::fs::File::create(table) {
                    let _ = std::io::copy(&mut reader, &mut f);
                }
            });
            Ok(line)
        })
        .await
        .context("joining a blocking task")??;
        let Some(port) = parse_listening(&line) else {
            bail!("aws-fault-proxy did not say `listening on ADDR` (said {line:?}; see proxy.log)");
        };
        Ok(Proxy {
            process,
            port,
            record,
        })
    }

    /// The endpoint URL for the operator.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The summary as of now.
    pub async fn summary(&mut self) -> Result<Summary> {
        self.process.check_running()?;
        let url = format!("{}/__proxy/summary", self.url());
        let (code, body) = http::get(&url, Duration::from_secs(30)).await?;
        if code != 200 {
            bail!("GET {url}: {code} {body}");
        }
        serde_json::from_str(&body).context("parsing the proxy summary")
    }

    /// A reader of the call record from its current end on.
    pub fn tail(&self) -> Result<RecordTail> {
        let offset = std::fs::metadata(&self.record)
            .map(|m| m.len())
            .unwrap_or(0);
        Ok(RecordTail {
            path: self.record.clone(),
            offset,
            partial: String::new(),
        })
    }

    /// Stops the proxy (it prints its table to proxy-summary.txt).
    pub async fn stop(&mut self) -> Result<()> {
        self.process.stop(Duration::from_secs(5)).await
    }
}

/// The port of `listening on 127.0.0.1:PORT`.
pub fn parse_listening(line: &str) -> Option<u16> {
    line.trim()
        .strip_prefix("listening on ")?
        .rsplit(':')
        .next()?
        .parse()
        .ok()
}

/// Reads the record file incrementally (the record of a long run is large).
pub struct RecordTail {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl RecordTail {
    /// The lines appended since the last call (a line still being written is kept for the
    /// next call).
    pub fn read_new(&mut self) -> Result<Vec<RecordLine>> {
        let mut file = std::fs::File::open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        file.seek(SeekFrom::Start(self.offset))?;
        let mut text = String::new();
        let n = file.read_to_string(&mut text)?;
        self.offset += n as u64;
        let mut text = std::mem::take(&mut self.partial) + &text;
        if !text.ends_with('\n') {
            let cut = text.rfind('\n').map_or(0, |i| i + 1);
            self.partial = text.split_off(cut);
        }
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).with_context(|| format!("bad record line {l:?}")))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_line() {
        assert_eq!(
            parse_listening("listening on 127.0.0.1:41234\n"),
            Some(41234)
        );
        assert_eq!(parse_listening("error"), None);
    }

    #[test]
    fn writes_exclude_reads_and_other() {
        assert!(is_write("ecs:CreateService"));
        assert!(is_write("ecs:RegisterTaskDefinition"));
        assert!(!is_write("ecs:DescribeServices"));
        assert!(!is_write("ecs:ListTaskDefinitions"));
        assert!(!is_write("other:GetCallerIdentity"));
        assert!(!is_write("other:AssumeRole"));
    }

    #[test]
    fn summary_parses() {
        let s: Summary = serde_json::from_value(json!({
            "total_calls": 10,
            "throttled_bucket": 0,
            "calls": {
                "ecs:CreateService": {"total": 3, "outcomes": {"forwarded": 3}},
                "ecs:DescribeServices": {"total": 4, "outcomes": {"forwarded": 4}},
                "ecs:ListTaskDefinitions": {"total": 1, "outcomes": {"forwarded": 1}},
                "ecs:RegisterTaskDefinition": {"total": 1, "outcomes": {"forwarded": 1}},
                "other:GetCallerIdentity": {"total": 1, "outcomes": {"forwarded": 1}}
            },
            "faults": {}, "successful_mutations": {}, "duplicate_creates": []
        }))
        .unwrap();
        assert_eq!(s.total_calls, 10);
        assert_eq!(s.calls["ecs:CreateService"].total, 3);
    }

    #[test]
    fn tail_reads_only_new_complete_lines() {
        let dir = std::env::temp_dir().join(format!("bench-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.jsonl");
        let line = |op: &str| {
            format!(
                "{{\"t_ms\":1,\"service\":\"ecs\",\"operation\":\"{op}\",\"resource\":\"x\",\
                 \"mutating\":false,\"outcome\":\"forwarded\",\"upstream_status\":200,\
                 \"detail\":null,\"latency_ms\":0}}\n"
            )
        };
        std::fs::write(&path, line("A")).unwrap();
        let mut tail = RecordTail {
            path: path.clone(),
            offset: std::fs::metadata(&path).unwrap().len(),
            partial: String::new(),
        };
        assert!(tail.read_new().unwrap().is_empty());
        let b = line("B");
        let (first, second) = b.split_at(20);
        std::fs::write(&path, format!("{}{}", line("A"), first)).unwrap();
        assert!(tail.read_new().unwrap().is_empty());
        std::fs::write(&path, format!("{}{}{}", line("A"), first, second)).unwrap();
        let got = tail.read_new().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].operation, "B");
        assert!(got[0].succeeded());
        let _ = std::fs::remove_dir_all(dir);
    }
}
