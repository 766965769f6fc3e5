//! Running a tool (or the pipeline script) against a local AWS, in the spirit of just's
//! `Test` builder: name it, add arguments and environment, then run it.
//!
//! ```ignore
//! aws.tool("latest-ami", dir.path()).arg("main").env("AWS_MAX_ATTEMPTS", "0").expect(2);
//! let ran = aws.run("prune-amis", dir.path(), &["main", "2", "-o", "json"]).expect(0);
//! ```

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use crate::server::LocalAws;
use crate::tools::{bin_dir, require, root, venv_python, which};

/// One run of a tool, being set up. Nothing happens until [`Run::output`] or [`Run::expect`].
pub struct Run {
    cmd: Command,
    what: String,
    stdin: Option<String>,
}

impl Run {
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Feeds `text` to the tool's stdin (otherwise it reads nothing).
    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.to_owned());
        self
    }

    pub fn env_remove(mut self, key: &str) -> Self {
        self.cmd.env_remove(key);
        self
    }

    /// Runs it to the end.
    pub fn output(mut self) -> Ran {
        let Some(text) = self.stdin.take() else {
            return Ran::from(self.cmd.output().unwrap_or_else(|e| panic!("running {}: {e}", self.what)));
        };
        let mut child = self
            .cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("running {}: {e}", self.what));
        let mut input = child.stdin.take().expect("stdin is piped");
        // A tool that exits before reading all of it closes the pipe: not the test's concern.
        let _ = std::io::Write::write_all(&mut input, text.as_bytes());
        drop(input);
        Ran::from(child.wait_with_output().unwrap_or_else(|e| panic!("waiting for {}: {e}", self.what)))
    }

    /// Runs it to the end and asserts the exit status.
    #[track_caller]
    pub fn expect(self, code: i32) -> Ran {
        self.output().expect(code)
    }

    /// The command itself, for a test that spawns it and talks to it while it runs.
    pub fn command(self) -> Command {
        self.cmd
    }

    /// Spawns it and returns once a line of its stderr contains `marker` (it has got that far),
    /// with the rest of its stderr to read.
    // The child is handed to the caller, who waits for it.
    #[allow(clippy::zombie_processes)]
    pub fn spawn_until(mut self, marker: &str) -> (std::process::Child, std::io::BufReader<std::process::ChildStderr>) {
        use std::io::BufRead;
        let mut child =
            self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("running {}: {e}", self.what));
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            if stderr.read_line(&mut line).unwrap() == 0 {
                panic!("{} ended ({}) before saying {marker:?}", self.what, child.wait().unwrap());
            }
            if line.contains(marker) {
                return (child, stderr);
            }
        }
    }
}

impl LocalAws {
    /// A tool, pointed at this local AWS and nothing else, to run in `cwd`.
    pub fn tool(&self, name: &str, cwd: &Path) -> Run {
        let mut cmd = Command::new(bin_dir().join(name));
        cmd.current_dir(cwd).stdin(Stdio::null());
        self.aws_env(&mut cmd);
        Run { cmd, what: name.to_owned(), stdin: None }
    }

    /// The common case: a tool with these arguments (finish with `.expect(..)` or `.output()`).
    pub fn run(&self, name: &str, cwd: &Path, args: &[&str]) -> Run {
        self.tool(name, cwd).args(args)
    }

    /// Points a command at this local AWS: no profile, no instance metadata, dummy credentials.
    pub fn aws_env(&self, cmd: &mut Command) {
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        cmd.env("AWS_ENDPOINT_URL", &self.url)
            .env("AWS_REGION", self.region)
            .env("AWS_ACCESS_KEY_ID", &self.keys.0)
            .env("AWS_SECRET_ACCESS_KEY", &self.keys.1)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", empty_file("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", empty_file("credentials"));
    }

    /// `scripts/pipeline.py ARGS` (the world, the buildspec's commands) against this local
    /// AWS, with the tools on PATH, Packer's local build, and the steps' files in `cwd`.
    pub fn pipeline(&self, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Ran {
        self.pipeline_with(cwd, args, env, &[bin_dir()])
    }

    /// The pipeline with these directories first on PATH instead of the freshly built tools:
    /// where the buildspec's install phase puts them, and the AWS CLI it fetches with.
    pub fn pipeline_with(&self, cwd: &Path, args: &[&str], env: &[(&str, &str)], path_first: &[&Path]) -> Ran {
        require("packer", which("packer"), "scripts/test installs Debian's package (apt-get install -y packer)");
        let mut cmd = Command::new(venv_python());
        cmd.arg(root().join("scripts/pipeline.py")).args(args).current_dir(cwd).stdin(Stdio::null());
        self.aws_env(&mut cmd);
        let first: Vec<String> = path_first.iter().map(|p| p.display().to_string()).collect();
        let path = format!("{}:{}", first.join(":"), std::env::var("PATH").unwrap_or_default());
        cmd.env("PATH", path)
            .env("PIPELINE_WORKDIR", cwd)
            .env("PACKER_BUILD", "local")
            .env("REFRESH_INTERVAL", "0.1")
            .env("VERIFY_INTERVAL", "0.2");
        cmd.envs(env.iter().copied());
        Run { cmd, what: "scripts/pipeline.py".into(), stdin: None }.output()
    }
}

/// A finished run of a tool.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Ran {
    fn from(out: Output) -> Self {
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Ran {
    /// Asserts the exit status, showing everything the tool said when it is wrong.
    #[track_caller]
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(self.code, code, "exit status\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// The error line: the last line of stderr, which must start with "<tool>: ".
    #[track_caller]
    pub fn error_line(&self, tool: &str) -> &str {
        let line = self.stderr.lines().last().unwrap_or("");
        assert!(line.starts_with(&format!("{tool}: ")), "error line {line:?} lacks the tool's name; stderr:\n{}", self.stderr);
        line
    }
}

/// An empty file, made once, for AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE: nothing from
/// the user's ~/.aws reaches a test.
fn empty_file(name: &str) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"));
    let path = dir.path().join(name);
    if !path.exists() {
        std::fs::write(&path, "").expect("writing an empty file");
    }
    path
}
