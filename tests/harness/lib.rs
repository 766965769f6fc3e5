//! The end-to-end harness: a local AWS per test, the real binaries, and SDK clients to build
//! a world and look at it afterwards.
//!
//! [`LocalAws::start`] makes the moto venv if missing (`scripts/local-aws-venv`), starts
//! `tests/local_aws/server.py` on a free loopback port (the system picks it), and gives each
//! test a Region of its own on it, so tests run in parallel without seeing each other's AMIs,
//! groups or calls. The server ends with the test process.
//!
//! - `tools`: building the tools once, the venv, what the machine must have;
//! - `server`: the local AWS, its test controls, the fault proxy;
//! - `setup`: the world most tests start from, in one expression ([`LocalAws::world`]);
//! - `stack`: the pipeline's CloudFormation stack, deployed with the AWS CLI, and the template read as JSON;
//! - `world`: world builders (AMIs, templates, groups, a real account's world);
//! - `regions`: worlds across Regions (builds copied as Packer copies them);
//! - `verify`: what verify-ami needs and leaves (a profiled template, a target group, its instances);
//! - `run`: running a tool, a builder in the spirit of just's `Test`.

pub mod regions;
pub mod run;
pub mod server;
pub mod setup;
pub mod stack;
pub mod tools;
pub mod verify;
pub mod world;

use std::path::Path;
use std::time::Duration;

pub use run::{Ran, Run};
pub use server::{FaultProxy, LocalAws, REGION};
pub use setup::World;
pub use tools::{as_from_a_shell, awscli_dir, bin_dir, package, require, root, tools, venv_python, which};

/// The slow lane: tests that bake with the real Packer, deploy the pipeline stack, build or
/// install the release package, run at AWS's pace, or run the benchmark. `cargo test` alone
/// runs the fast lane (the unit tests and the end-to-end tests that need only the local AWS);
/// the slow tests run when `DEPLOY_TOOLS_SLOW_TESTS=1` (scripts/test sets it) and always under
/// CI (`CI=true`), so nothing is skipped silently there. Elsewhere a slow test returns at once
/// and says so on stderr, past the test harness's capture.
pub fn slow_lane() -> bool {
    let on = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    if on("DEPLOY_TOOLS_SLOW_TESTS") || on("CI") {
        return true;
    }
    let test = std::thread::current().name().unwrap_or("a slow test").to_owned();
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("{test}: not run (slow lane: DEPLOY_TOOLS_SLOW_TESTS=1, or scripts/test, runs it)\n").as_bytes(),
    );
    false
}

/// `scripts/local-run` with these variables, as the README runs it from a shell (Packer and the
/// tools checked first): its exit code, stdout and stderr. A shell's environment: without
/// cargo's variables for this test process (which would make local-run's own `cargo build`
/// rebuild), and without any AWS_* setting.
pub fn local_run(env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    require("packer", which("packer"), "scripts/test installs Debian's package (apt-get install -y packer)");
    bin_dir();
    let mut cmd = as_from_a_shell(std::process::Command::new(root().join("scripts/local-run")));
    let out = cmd.envs(env.iter().copied()).stdin(std::process::Stdio::null()).output().expect("running scripts/local-run");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Writes a refresh config into `dir` and returns its path.
pub fn refresh_config(dir: &Path, body: &str) -> String {
    let path = dir.join("refresh.json");
    std::fs::write(&path, body).expect("writing the refresh config");
    path.to_string_lossy().into_owned()
}

/// A prune run's JSON plan: image ID -> (action, reason).
pub fn plan_of(v: &serde_json::Value) -> std::collections::BTreeMap<String, (String, String)> {
    let text = |d: &serde_json::Value, k: &str| d[k].as_str().unwrap().to_owned();
    v["plan"].as_array().unwrap().iter().map(|d| (text(d, "image_id"), (text(d, "action"), text(d, "reason")))).collect()
}

/// A fresh working directory for one test.
pub fn workdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Waits (bounded) until `f` holds, polling every 50 ms: for state that AWS changes on its
/// own time, never as a stand-in for an answer the tool owes us.
pub async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}
