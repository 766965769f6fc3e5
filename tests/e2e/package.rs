//! The release package (scripts/package) and the buildspec's install phase that installs it:
//! its contents and checksums, the glibc it needs, the install from the local AWS's S3 and the
//! deploy with the installed tools, and the refusal of a package whose checksum differs.

use std::path::{Path, PathBuf};
use std::process::Command;

use deploy_tests::{as_from_a_shell, awscli_dir, package, tools, which, workdir, LocalAws};

/// Unpacks the archive into `dir` and returns the package's folder.
fn unpack(archive: &Path, dir: &Path) -> PathBuf {
    let status = Command::new("tar").arg("-xzf").arg(archive).arg("-C").arg(dir).status().unwrap();
    assert!(status.success());
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1, "one folder at the top: {entries:?}");
    entries.remove(0)
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
}

#[test]
fn the_package_holds_everything_listed_and_its_checksums_verify() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let archive = package();
    let name = archive.file_name().unwrap().to_string_lossy().into_owned();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(name, format!("deploy-tools-{version}-x86_64-linux.tar.gz"));
    let dir = workdir();
    let pkg = unpack(archive, dir.path());
    let mut expected = vec![
        "bin/deploy-tools".to_owned(),
        "README.md".into(),
        "CHANGELOG.md".into(),
        "LICENSE-MIT".into(),
        "LICENSE-APACHE".into(),
        "SHA256SUMS".into(),
    ];
    for tool in tools() {
        expected.push(format!("bin/{tool}"));
        expected.push(format!("completions/bash/{tool}"));
        expected.push(format!("completions/zsh/_{tool}"));
        expected.push(format!("completions/fish/{tool}.fish"));
        expected.push(format!("man/man1/{tool}.1"));
        expected.push(format!("iam/{tool}.json"));
    }
    for file in &expected {
        assert!(pkg.join(file).exists(), "the package lacks {file}");
    }
    let verify = Command::new("sha256sum").args(["--strict", "-c", "SHA256SUMS"]).current_dir(&pkg).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    let listed = std::fs::read_to_string(pkg.join("SHA256SUMS")).unwrap();
    assert!(listed.lines().count() >= expected.len() - tools().len() - 1, "every regular file is summed:\n{listed}");
    for tool in tools() {
        // Each name runs its own tool, with its own help and a version naming the commit.
        let out = Command::new(pkg.join("bin").join(tool)).arg("--version").output().unwrap();
        let line = String::from_utf8(out.stdout).unwrap();
        assert!(line.starts_with(&format!("{tool} {version} (commit ")), "{line}");
        let man = std::fs::read_to_string(pkg.join(format!("man/man1/{tool}.1"))).unwrap();
        assert!(man.contains(".TH") && man.contains(tool), "{tool}'s man page");
    }
}

#[test]
fn the_binary_needs_no_glibc_newer_than_amazon_linux_2s() {
    if !deploy_tests::slow_lane() {
        return;
    }
    assert!(which("objdump"), "the glibc test needs objdump (binutils), which is missing: apt-get install -y binutils");
    let dir = workdir();
    let pkg = unpack(package(), dir.path());
    let out = Command::new("objdump").arg("-T").arg(pkg.join("bin/deploy-tools")).output().unwrap();
    assert!(out.status.success());
    let symbols = String::from_utf8_lossy(&out.stdout);
    let mut versions: Vec<(u32, u32)> = symbols
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let mut parts = v.split('.');
            Some((parts.next()?.parse().ok()?, parts.next().map_or(Some(0), |p| p.parse().ok())?))
        })
        .collect();
    versions.sort();
    let highest = *versions.last().expect("a glibc-linked binary names glibc versions");
    assert!(highest <= (2, 26), "the binary needs GLIBC_{}.{}, newer than Amazon Linux 2's 2.26", highest.0, highest.1);
}

/// Puts the package into the local AWS's S3 and returns its s3:// URL.
fn upload(aws: &LocalAws, archive: &Path) -> String {
    let aws_cli = awscli_dir().join("aws");
    let bucket = format!("tools-{}", aws.region);
    let key = archive.file_name().unwrap().to_string_lossy().into_owned();
    for args in [
        vec!["s3".to_owned(), "mb".into(), format!("s3://{bucket}")],
        vec!["s3".into(), "cp".into(), archive.display().to_string(), format!("s3://{bucket}/{key}")],
    ] {
        let mut cmd = Command::new(&aws_cli);
        aws.aws_env(&mut cmd);
        let out = cmd.args(&args).output().unwrap();
        assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    format!("s3://{bucket}/{key}")
}

#[tokio::test]
async fn the_install_phase_installs_the_package_and_the_pipeline_deploys_with_it() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let aws = LocalAws::start().await;
    let archive = package();
    let url = upload(&aws, archive);
    let dir = workdir();
    let tools_dir = workdir();
    let made = aws.pipeline(dir.path(), &["world"], &[("ASG_NAME", "app")]).expect(0).json();
    let sha = sha256(archive);
    let installed_in = tools_dir.path().to_string_lossy().into_owned();
    let env = [
        ("TOOLS_URL", url.as_str()),
        ("TOOLS_SHA256", sha.as_str()),
        ("TOOLS_DIR", installed_in.as_str()),
        ("SOURCE_AMI", made["SOURCE_AMI"].as_str().unwrap()),
        ("LAUNCH_TEMPLATE_ID", made["LAUNCH_TEMPLATE_ID"].as_str().unwrap()),
        ("ASG_NAME", "app"),
        ("AMIS_TO_KEEP", "1"),
        ("VERSIONS_TO_KEEP", "2"),
    ];
    // Only what the install phase put on PATH: not the freshly built tools.
    let path_first = [tools_dir.path(), awscli_dir()];
    let run = aws.pipeline_with(dir.path(), &["run", "install", "pre_build", "build", "post_build"], &env, &path_first).expect(0);
    assert!(run.stdout.contains("Instance refresh Successful"), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("installed deploy-tools-"), "{}", run.stderr);
    for tool in tools() {
        assert!(tools_dir.path().join(tool).exists(), "{tool} installed");
    }
    let baked = std::fs::read_to_string(dir.path().join("latest_ami_id")).unwrap();
    assert_eq!(aws.group_amis("app").await, vec![baked.trim().to_owned(); 2]);
}

#[tokio::test]
async fn a_package_whose_checksum_differs_is_refused_and_nothing_installed() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let aws = LocalAws::start().await;
    let url = upload(&aws, package());
    let dir = workdir();
    let tools_dir = workdir();
    let tools = tools_dir.path().to_string_lossy().into_owned();
    let wrong = "0".repeat(64);
    let env = [("TOOLS_URL", url.as_str()), ("TOOLS_SHA256", wrong.as_str()), ("TOOLS_DIR", tools.as_str())];
    let run = aws.pipeline_with(dir.path(), &["run", "install"], &env, &[tools_dir.path(), awscli_dir()]);
    assert_ne!(run.code, 0, "the install phase fails: {}", run.stderr);
    let refusal: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("install-tools:")).collect();
    assert_eq!(refusal.len(), 1, "one line: {}", run.stderr);
    assert!(refusal[0].contains("refusing") && refusal[0].contains(&wrong), "{}", refusal[0]);
    assert_eq!(std::fs::read_dir(tools_dir.path()).unwrap().count(), 0, "nothing installed");
    // No TOOLS_SHA256 at all: refused too.
    let run = aws.pipeline_with(
        dir.path(),
        &["run", "install"],
        &[("TOOLS_URL", url.as_str()), ("TOOLS_DIR", tools.as_str())],
        &[tools_dir.path(), awscli_dir()],
    );
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("TOOLS_SHA256 is not"), "{}", run.stderr);
}

#[tokio::test]
async fn package_upload_puts_it_in_s3_and_prints_the_two_variables() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let aws = LocalAws::start().await;
    let archive = package();
    let bucket = format!("artifacts-{}", aws.region);
    let mut mb = Command::new(awscli_dir().join("aws"));
    aws.aws_env(&mut mb);
    assert!(mb.args(["s3", "mb", &format!("s3://{bucket}")]).output().unwrap().status.success());

    // As from a shell (the build must see what scripts/test's saw, or it starts over), with the
    // local AWS's settings, its own dist folder (the other tests read the shared package
    // meanwhile), and the AWS CLI named rather than put on PATH (the build watches PATH).
    let mut cmd = as_from_a_shell(Command::new(deploy_tests::root().join("scripts/package")));
    aws.aws_env(&mut cmd);
    let dist = workdir();
    let out = cmd
        .args(["--upload", &format!("s3://{bucket}/tools/")])
        .env("AWS_CLI", awscli_dir().join("aws"))
        .env("DIST_DIR", dist.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let name = archive.file_name().unwrap().to_string_lossy();
    let uploaded = dist.path().join(name.as_ref());
    assert!(stdout.contains(&format!("TOOLS_URL=s3://{bucket}/tools/{name}\n")), "{stdout}");
    assert!(stdout.contains(&format!("TOOLS_SHA256={}\n", sha256(&uploaded))), "{stdout}");
    let mut ls = Command::new(awscli_dir().join("aws"));
    aws.aws_env(&mut ls);
    let listed = ls.args(["s3", "ls", &format!("s3://{bucket}/tools/")]).output().unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains(name.as_ref()), "uploaded");

    // Not an s3:// URL: a usage error, nothing built or sent.
    let out = Command::new(deploy_tests::root().join("scripts/package")).args(["--upload", "https://example.com/"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
