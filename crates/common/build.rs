//! Records the git commit the tools are built from, for `--version` (`0.1.0 (1a2b3c4d5e6f)`);
//! "unknown commit" outside a git checkout, or DEPLOY_TOOLS_COMMIT when the builder sets it.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DEPLOY_TOOLS_COMMIT");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let git_dir = root.join(".git");
    // Rebuild when HEAD moves: a new commit on the branch, or another branch checked out.
    // Only files that exist are watched: cargo takes a missing one as changed, every build.
    let branch = std::fs::read_to_string(git_dir.join("HEAD")).ok().and_then(|h| h.trim().strip_prefix("ref: ").map(str::to_owned));
    let watched = ["HEAD".to_owned(), "packed-refs".to_owned()].into_iter().chain(branch);
    for file in watched.map(|f| git_dir.join(f)).filter(|f| f.exists()) {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let commit = std::env::var("DEPLOY_TOOLS_COMMIT").ok().filter(|c| !c.is_empty()).or_else(|| {
        let out = Command::new("git").arg("-C").arg(&root).args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    });
    let commit = commit.map_or_else(|| "unknown commit".to_owned(), |c| format!("commit {c}"));
    println!("cargo:rustc-env=DEPLOY_TOOLS_COMMIT={commit}");
}
