//! The tools' binaries (built once per test process if out of date), the local AWS's Python
//! venv, and what the tests need from the machine.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// Fails (never skips) when something the tests need is missing.
pub fn require(what: &str, ok: bool, how: &str) {
    assert!(ok, "the end-to-end tests need {what}, which is missing: {how}");
}

/// The python of the local AWS's venv, made once per test process.
pub fn venv_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let out =
            Command::new(root().join("scripts/local-aws-venv")).stderr(Stdio::inherit()).output().expect("running scripts/local-aws-venv");
        require(
            "the local AWS venv",
            out.status.success(),
            "scripts/local-aws-venv failed (see above); it needs python3 with venv and PyPI",
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// The directory the tools' binaries are in, built (once per test process) if out of date.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        // target/<profile>/deps/e2e-<hash> -> target/<profile>
        let dir = exe.parent().and_then(Path::parent).expect("target dir").to_path_buf();
        let profile = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut build = as_from_a_shell(Command::new(env!("CARGO")));
        // The same package set as the test command's own build, so that features resolve
        // alike and this is a no-op when the binaries are fresh.
        build.current_dir(root()).args(["build", "--quiet", "--workspace", "--bins"]);
        if profile != "debug" {
            build.args(["--profile", if profile == "release" { "release" } else { &profile }]);
        }
        let status = build.status().expect("running cargo build");
        assert!(status.success(), "building the tools failed");
        require("deploy-tools", dir.join("deploy-tools").exists(), "cargo build --bins did not produce it");
        dir
    })
}

/// The tools' names, as `deploy-tools --list` gives them (the one list of them); each is built.
pub fn tools() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let dir = bin_dir();
        let out = Command::new(dir.join("deploy-tools")).arg("--list").output().expect("running deploy-tools --list");
        assert!(out.status.success(), "deploy-tools --list failed");
        let names: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect();
        assert!(!names.is_empty(), "deploy-tools --list names no tool");
        for tool in &names {
            require(tool, dir.join(tool).exists(), "cargo build --bins did not produce it");
        }
        names
    })
}

/// A command that builds, with the environment a shell would give it: cargo gives a test
/// process variables (CARGO_PKG_*, ...) that build scripts watch, and with them the whole SDK
/// would be built again.
pub fn as_from_a_shell(mut cmd: Command) -> Command {
    cmd.env_clear();
    for key in ["PATH", "HOME", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN", "CARGO_TARGET_DIR", "TMPDIR", "CI"] {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    cmd
}

/// The directory of the AWS CLI (its own venv, made once per test process).
pub fn awscli_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Command::new(root().join("scripts/awscli-venv")).stderr(Stdio::inherit()).output().expect("running scripts/awscli-venv");
        require("the AWS CLI", out.status.success(), "scripts/awscli-venv failed (see above); it needs python3 with venv and PyPI");
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// The release package (scripts/package), made if missing (a release build for glibc 2.26:
/// minutes; scripts/test makes it before the tests). Returns the archive's path.
pub fn package() -> &'static Path {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let existing = || {
            std::fs::read_dir(root().join("dist"))
                .ok()?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| p.to_string_lossy().ends_with("-x86_64-linux.tar.gz"))
        };
        // scripts/test builds it beside the tests and says when it is done, and how it went.
        if let Some(status) = std::env::var_os("DEPLOY_TOOLS_PACKAGE_STATUS").map(PathBuf::from) {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90 * 60);
            while !status.exists() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            let code = std::fs::read_to_string(&status).unwrap_or_default();
            require(
                "the release package",
                code.trim() == "0",
                "scripts/package (run by scripts/test beside the tests) failed; see its output above",
            );
            return existing().expect("scripts/package made no archive in dist/");
        }
        if let Some(found) = existing() {
            return found;
        }
        let status =
            as_from_a_shell(Command::new(root().join("scripts/package"))).stdout(Stdio::null()).status().expect("running scripts/package");
        require("the release package", status.success(), "scripts/package failed (see above)");
        existing().expect("scripts/package made no archive in dist/")
    })
}

/// True when `program` is on PATH.
pub fn which(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
}
