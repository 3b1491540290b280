//! A fresh control plane per run: hack/sandbox.sh (etcd + kube-apiserver + moto, tools
//! built once and cached), kubectl against it, and a kube-rs client for the watches.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::process::run;

/// A running sandbox; stopped (`hack/sandbox.sh down`) when dropped.
pub struct Sandbox {
    root: PathBuf,
    dir: PathBuf,
    env: HashMap<String, String>,
}

impl Sandbox {
    /// Starts a sandbox in `dir` (its state, logs and certificates) whose moto reports
    /// `moto_running` running tasks for every service. Script output goes to `log`.
    pub async fn up(root: &Path, dir: &Path, moto_running: u32, log: &Path) -> Result<Sandbox> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut sandbox = Sandbox {
            root: root.to_path_buf(),
            dir: dir.to_path_buf(),
            env: HashMap::new(),
        };
        let mut cmd = Command::new(root.join("hack/sandbox.sh"));
        cmd.args(["up", "--state-dir"])
            .arg(dir)
            .env("MOTO_ECS_SERVICE_RUNNING", moto_running.to_string());
        redirect(&mut cmd, log)?;
        // Dropped on failure: `down` cleans up whatever `up` left.
        run(cmd)
            .await
            .with_context(|| format!("hack/sandbox.sh up failed (see {})", log.display()))?;
        let env_file = std::fs::read_to_string(dir.join("env.sh"))
            .with_context(|| format!("reading {}/env.sh", dir.display()))?;
        sandbox.env = parse_env_sh(&env_file);
        Ok(sandbox)
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// moto's URL (read directly, bypassing the proxy, so the harness's own reads are never
    /// counted).
    pub fn moto_url(&self) -> Result<String> {
        self.env
            .get("AWS_ENDPOINT_URL")
            .cloned()
            .context("the sandbox's env.sh has no AWS_ENDPOINT_URL")
    }

    /// Runs kubectl against the sandbox and returns its stdout.
    pub async fn kubectl(&self, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new("kubectl");
        cmd.args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .current_dir(&self.root);
        run(cmd).await
    }

    /// A kube-rs client for the sandbox.
    pub async fn client(&self) -> Result<kube::Client> {
        let kc = Kubeconfig::read_from(self.kubeconfig()).context("reading the kubeconfig")?;
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .context("kube config from the sandbox's kubeconfig")?;
        kube::Client::try_from(config).context("kube client")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let log = self.dir.join("sandbox-down.log");
        let mut cmd = Command::new(self.root.join("hack/sandbox.sh"));
        cmd.args(["down", "--state-dir"]).arg(&self.dir);
        if redirect(&mut cmd, &log).is_ok() {
            let _ = cmd.status();
        }
    }
}

/// Sends a command's stdout and stderr to `log`.
fn redirect(cmd: &mut Command, log: &Path) -> Result<()> {
    let file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    cmd.stdout(file.try_clone()?).stderr(file);
    Ok(())
}

/// `export KEY='value'` lines of the sandbox's env.sh.
pub fn parse_env_sh(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_sh() {
        let env = parse_env_sh(
            "# comment\nexport KUBECONFIG='/tmp/x/kubeconfig'\nexport AWS_ENDPOINT_URL=http://127.0.0.1:5000\n",
        );
        assert_eq!(env["KUBECONFIG"], "/tmp/x/kubeconfig");
        assert_eq!(env["AWS_ENDPOINT_URL"], "http://127.0.0.1:5000");
        assert_eq!(env.len(), 2);
    }
}
