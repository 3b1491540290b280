//! Child processes (operators, the proxy, scripts) and what /proc says about them: CPU
//! seconds (utime + stime) and peak resident memory (VmHWM).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A started child process; killed (SIGKILL) when dropped if still running, so an error or
/// Ctrl-C in the harness never leaves it behind.
pub struct Process {
    name: String,
    child: Child,
}

impl Process {
    /// Starts `cmd` with stdin from /dev/null and stdout and stderr appended to `log`
    /// (unless the caller already set stdout).
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Process> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening the log {}", log.display()))?;
        let err = file
            .try_clone()
            .with_context(|| format!("opening the log {}", log.display()))?;
        cmd.stdin(Stdio::null()).stdout(file).stderr(err);
        Self::spawn_configured(name, cmd)
    }

    /// Starts `cmd` with the stdio the caller set up.
    pub fn spawn_configured(name: &str, mut cmd: Command) -> Result<Process> {
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", cmd.get_program()))?;
        Ok(Process {
            name: name.to_string(),
            child,
        })
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child itself (to take its piped stdout).
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Fails if the process has exited.
    pub fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => bail!("{} exited: {status}", self.name),
            Err(e) => bail!("{}: {e}", self.name),
        }
    }

    /// SIGTERM, then SIGKILL after `grace`; waits for the exit.
    pub async fn stop(&mut self, grace: Duration) -> Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        // std only sends SIGKILL; kill(1) sends the polite one.
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        self.child
            .wait()
            .with_context(|| format!("waiting for {}", self.name))?;
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a command to completion (blocking, on tokio's blocking pool) and returns its
/// stdout; fails with its stderr when it exits non-zero.
pub async fn run(mut cmd: Command) -> Result<String> {
    let what = format!(
        "{:?} {:?}",
        cmd.get_program(),
        cmd.get_args().collect::<Vec<_>>()
    );
    let out = tokio::task::spawn_blocking(move || cmd.stdin(Stdio::null()).output())
        .await
        .context("joining a blocking task")?
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// CPU seconds (user + system) the process has used so far.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let ticks = parse_cpu_ticks(&stat).with_context(|| format!("parsing /proc/{pid}/stat"))?;
    Ok(ticks as f64 / clock_ticks() as f64)
}

/// Peak resident set size of the process so far, in MiB.
pub fn peak_rss_mib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let kib =
        parse_vm_hwm_kib(&status).with_context(|| format!("no VmHWM in /proc/{pid}/status"))?;
    Ok(kib as f64 / 1024.0)
}

/// utime + stime (fields 14 and 15) of a /proc/PID/stat line, in clock ticks. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ")": field 3 (state) is index 0, so field 14 is index 11.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The `VmHWM:` line of /proc/PID/status, in KiB.
pub fn parse_vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 on Linux unless it says otherwise).
fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|t| *t > 0)
            .unwrap_or(100)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_after_the_command_name() {
        let stat = "1234 (tokio (worker) x) S 1 1234 1234 0 -1 4194560 2000 0 0 0 \
                    150 25 0 0 20 0 8 0 100 1000000 5000";
        assert_eq!(parse_cpu_ticks(stat), Some(175));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn vm_hwm() {
        let status =
            "Name:\tecs-operator\nVmPeak:\t  99999 kB\nVmHWM:\t   40960 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(parse_vm_hwm_kib(status), Some(40960));
        assert_eq!(parse_vm_hwm_kib("Name: x\n"), None);
    }

    #[test]
    fn own_process_figures() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).is_ok_and(|s| s >= 0.0));
        assert!(peak_rss_mib(pid).is_ok_and(|m| m > 0.0));
    }
}
