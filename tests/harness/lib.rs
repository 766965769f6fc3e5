//! The end-to-end harness: a local AWS per test, the real binaries, and SDK clients to build
//! a world and look at it afterwards.
//!
//! [`LocalAws::start`] makes the moto venv if missing (`scripts/local-aws-venv`), starts
//! `tests/local_aws/server.py` on a free loopback port (the system picks it), and gives each
//! test a Region of its own on it, so tests run in parallel without seeing each other's AMIs,
//! groups or calls. The server ends with the test process.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub mod world;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

pub const REGION: &str = "us-east-1";
pub const TOOLS: [&str; 5] = ["latest-ami", "prune-amis", "delete-ami", "bump-launch-template", "instance-refresh"];

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// Fails (never skips) when something the tests need is missing.
fn require(what: &str, ok: bool, how: &str) {
    assert!(ok, "the end-to-end tests need {what}, which is missing: {how}");
}

/// The python of the local AWS's venv, made once per test process.
pub fn venv_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = Command::new(root().join("scripts/local-aws-venv"))
            .stderr(Stdio::inherit())
            .output()
            .expect("running scripts/local-aws-venv");
        require("the local AWS venv", out.status.success(), "scripts/local-aws-venv failed (see above); it needs python3 with venv and PyPI");
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
        let mut build = Command::new(env!("CARGO"));
        // Build as a shell would: cargo gives a test process variables (CARGO_PKG_*, ...)
        // that build scripts watch, and with them the whole SDK would be built again.
        build.env_clear();
        for key in ["PATH", "HOME", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN", "CARGO_TARGET_DIR", "TMPDIR"] {
            if let Some(v) = std::env::var_os(key) {
                build.env(key, v);
            }
        }
        // The same package set as the test command's own build, so that features resolve
        // alike and this is a no-op when the binaries are fresh.
        build.current_dir(root()).args(["build", "--quiet", "--workspace", "--bins"]);
        if profile != "debug" {
            build.args(["--profile", if profile == "release" { "release" } else { &profile }]);
        }
        let status = build.status().expect("running cargo build");
        assert!(status.success(), "building the tools failed");
        for tool in TOOLS {
            require(tool, dir.join(tool).exists(), "cargo build --bins did not produce it");
        }
        dir
    })
}

/// Regions the local AWS knows. Tests that share a server each take one: moto keeps a world
/// per Region, so they never see each other's AMIs, templates, groups or calls.
const REGIONS: [&str; 34] = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "af-south-1", "ap-east-1", "ap-east-2",
    "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2",
    "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
    "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1",
    "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2",
    "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1",
];

/// A local AWS server process. It stops when dropped, and also when the test process ends
/// (it watches its stdin, which only we hold).
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn spawn(step: f64) -> Server {
        let mut child = Command::new(venv_python())
            .arg(root().join("tests/local_aws/server.py"))
            .arg("--exit-on-stdin-eof")
            .env("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
            .env("LOCAL_AWS_REFRESH_STEP", step.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the local AWS");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("reading the local AWS's first line");
        let url = line
            .strip_prefix("LOCAL_AWS_READY ")
            .map(|u| u.trim().to_owned())
            .unwrap_or_else(|| panic!("the local AWS did not start: {line:?}"));
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shared servers: a new one each time the Regions of the last run out.
static SHARED: Mutex<(Vec<Server>, usize)> = Mutex::new((Vec::new(), 0));

/// One test's local AWS: a server and a Region of its own on it.
pub struct LocalAws {
    /// A server this test alone uses (see [`LocalAws::start_with_step`]); None when shared.
    _own: Option<Server>,
    pub url: String,
    pub region: &'static str,
    pub config: aws_config::SdkConfig,
}

impl LocalAws {
    /// A fresh Region on a shared server.
    pub async fn start() -> LocalAws {
        let (url, region) = {
            let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
            if shared.0.is_empty() || shared.1 == REGIONS.len() {
                shared.0.push(Server::spawn(0.15));
                shared.1 = 0;
            }
            let region = REGIONS[shared.1];
            shared.1 += 1;
            (shared.0.last().unwrap().url.clone(), region)
        };
        Self::connect(None, url, region).await
    }

    /// A server of its own, whose instance refreshes take `step` seconds per step.
    pub async fn start_with_step(step: f64) -> LocalAws {
        let server = Server::spawn(step);
        let url = server.url.clone();
        Self::connect(Some(server), url, REGION).await
    }

    async fn connect(own: Option<Server>, url: String, region: &'static str) -> LocalAws {
        // Build stale tools now, before the test makes its world: a build in the middle of a
        // test (at its first tool run) would let a refresh it started run out meanwhile.
        bin_dir();
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region))
            .endpoint_url(&url)
            .credentials_provider(aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "tests"))
            .load()
            .await;
        LocalAws { _own: own, url, region, config }
    }

    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.config)
    }

    pub fn asg(&self) -> aws_sdk_autoscaling::Client {
        aws_sdk_autoscaling::Client::new(&self.config)
    }

    /// A tool's command with the environment pointing at this local AWS and nothing else.
    pub fn tool(&self, name: &str, cwd: &Path) -> Command {
        let mut cmd = Command::new(bin_dir().join(name));
        cmd.current_dir(cwd).stdin(Stdio::null());
        self.aws_env(&mut cmd);
        cmd
    }

    /// Points a command at this local AWS: no profile, no instance metadata, dummy credentials.
    fn aws_env(&self, cmd: &mut Command) {
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        cmd.env("AWS_ENDPOINT_URL", &self.url)
            .env("AWS_REGION", self.region)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", empty_file("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", empty_file("credentials"));
    }

    /// `scripts/pipeline.py ARGS` (the world, the buildspec's commands) against this local
    /// AWS, with the tools on PATH, Packer's local build, and the steps' files in `cwd`.
    pub fn pipeline(&self, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        require("packer", which("packer"), "scripts/test installs Debian's package (apt-get install -y packer)");
        let mut cmd = Command::new(venv_python());
        cmd.arg(root().join("scripts/pipeline.py")).args(args).current_dir(cwd).stdin(Stdio::null());
        self.aws_env(&mut cmd);
        let path = format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap_or_default());
        cmd.env("PATH", path).env("PIPELINE_WORKDIR", cwd).env("PACKER_BUILD", "local").env("REFRESH_INTERVAL", "0.1");
        cmd.envs(env.iter().copied());
        Run::from(cmd.output().expect("running scripts/pipeline.py"))
    }

    /// Runs a tool to the end.
    pub fn run(&self, name: &str, cwd: &Path, args: &[&str]) -> Run {
        let out = self.tool(name, cwd).args(args).output().expect("running the tool");
        Run::from(out)
    }

    fn control(&self, method: &str, what: &str, body: &str) -> serde_json::Value {
        let out = Command::new(venv_python())
            .arg("-c")
            .arg("import sys,urllib.request as u;r=u.Request(sys.argv[1],data=(sys.argv[3].encode() if sys.argv[2]=='POST' else None),method=sys.argv[2]);print(u.urlopen(r).read().decode())")
            .arg(format!("{}/_local_aws/{what}", self.url))
            .arg(method)
            .arg(body)
            .output()
            .expect("calling the local AWS's controls");
        assert!(out.status.success(), "control {what}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("control reply is JSON")
    }

    /// The calls made in this test's Region since start or the last reset, by "service.Action".
    pub fn calls(&self) -> BTreeMap<String, u64> {
        let v = self.control("GET", &format!("calls?region={}", self.region), "");
        v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect()
    }

    /// Other services' permissions that calls used on the caller's behalf in this test's Region
    /// ("ssm.GetParameters" when EC2 resolves a `resolve:ssm:` alias), by "service.Action".
    pub fn authorized(&self) -> BTreeMap<String, u64> {
        let v = self.control("GET", &format!("authorized?region={}", self.region), "");
        v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect()
    }

    pub fn reset_calls(&self) {
        self.control("POST", "calls/reset", &serde_json::json!({"region": self.region}).to_string());
    }

    /// Makes the group's next refresh fail (or be cancelled) after `after` replacements.
    pub fn refresh_fault(&self, group: &str, kind: &str, after: u32, reason: &str) {
        let body = serde_json::json!({"group": group, kind: after, "reason": reason, "region": self.region});
        self.control("POST", "refresh-fault", &body.to_string());
    }

    /// Takes these actions ("ec2.DeregisterImage") away in this test's Region.
    pub fn deny(&self, actions: &[&str]) {
        let body = serde_json::json!({"region": self.region, "actions": actions});
        self.control("POST", "deny", &body.to_string());
    }

    // --- building a world ---------------------------------------------------------------

    /// An instance to bake images from (the source AMI is registered, as Packer's would be).
    pub async fn builder_instance(&self) -> String {
        let ec2 = self.ec2();
        let source = ec2.register_image().name("source").send().await.unwrap().image_id.unwrap();
        let run = ec2.run_instances().image_id(source).min_count(1).max_count(1).send().await.unwrap();
        run.instances()[0].instance_id().unwrap().to_owned()
    }

    /// Bakes `n` AMIs of `branch` from `instance`, oldest first, tagged as Packer tags them
    /// (image and snapshots). Each has one snapshot.
    pub async fn bake(&self, instance: &str, branch: &str, n: usize) -> Vec<String> {
        let ec2 = self.ec2();
        let tags = || {
            vec![
                Tag::builder().key("branch").value(branch).build(),
                Tag::builder().key("timestamp").value("1").build(),
            ]
        };
        let mut ids = Vec::new();
        for i in 0..n {
            let out = ec2
                .create_image()
                .instance_id(instance)
                .name(format!("{branch}-{i}-{}", ids.len()))
                .tag_specifications(TagSpecification::builder().resource_type(ResourceType::Image).set_tags(Some(tags())).build())
                .tag_specifications(TagSpecification::builder().resource_type(ResourceType::Snapshot).set_tags(Some(tags())).build())
                .send()
                .await
                .unwrap();
            ids.push(out.image_id.unwrap());
        }
        ids
    }

    /// The IDs of the registered AMIs of `branch`, disabled ones included.
    pub async fn branch_amis(&self, branch: &str) -> Vec<String> {
        let out = self
            .ec2()
            .describe_images()
            .owners("self")
            .include_disabled(true)
            .filters(Filter::builder().name("tag:branch").values(branch).build())
            .send()
            .await
            .unwrap();
        let mut ids: Vec<String> = out.images().iter().filter_map(|i| i.image_id().map(str::to_owned)).collect();
        ids.sort();
        ids
    }

    /// The snapshot IDs of an AMI, read from its block device mappings.
    pub async fn snapshots_of(&self, ami: &str) -> Vec<String> {
        let out = self.ec2().describe_images().image_ids(ami).include_disabled(true).send().await.unwrap();
        out.images()
            .iter()
            .flat_map(|i| i.block_device_mappings())
            .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()).map(str::to_owned))
            .collect()
    }

    pub async fn snapshot_exists(&self, snap: &str) -> bool {
        match self.ec2().describe_snapshots().snapshot_ids(snap).send().await {
            Ok(out) => !out.snapshots().is_empty(),
            Err(e) => {
                let code = aws_sdk_ec2::error::ProvideErrorMetadata::code(&e).map(str::to_owned);
                assert_eq!(code.as_deref(), Some("InvalidSnapshot.NotFound"), "{e:?}");
                false
            }
        }
    }

    pub async fn launch_template(&self, name: &str, ami: &str) -> String {
        let out = self
            .ec2()
            .create_launch_template()
            .launch_template_name(name)
            .launch_template_data(
                aws_sdk_ec2::types::RequestLaunchTemplateData::builder().image_id(ami).instance_type(aws_sdk_ec2::types::InstanceType::T3Micro).build(),
            )
            .send()
            .await
            .unwrap();
        out.launch_template().unwrap().launch_template_id().unwrap().to_owned()
    }

    /// Adds versions to a template (each launching `ami`) and returns their numbers.
    pub async fn add_versions(&self, lt: &str, ami: &str, n: usize) -> Vec<i64> {
        let mut numbers = Vec::new();
        for _ in 0..n {
            let out = self
                .ec2()
                .create_launch_template_version()
                .launch_template_id(lt)
                .source_version("1")
                .launch_template_data(aws_sdk_ec2::types::RequestLaunchTemplateData::builder().image_id(ami).build())
                .send()
                .await
                .unwrap();
            numbers.push(out.launch_template_version().unwrap().version_number().unwrap());
        }
        numbers
    }

    /// The template's version numbers, ascending, and its default version.
    pub async fn versions(&self, lt: &str) -> (Vec<i64>, i64) {
        let mut pages = self.ec2().describe_launch_template_versions().launch_template_id(lt).max_results(200).into_paginator().send();
        let mut numbers = Vec::new();
        let mut default = 0;
        while let Some(page) = pages.next().await {
            for v in page.unwrap().launch_template_versions() {
                let n = v.version_number().unwrap();
                if v.default_version() == Some(true) {
                    default = n;
                }
                numbers.push(n);
            }
        }
        numbers.sort();
        (numbers, default)
    }

    /// A group of `size` instances on the template's `version`.
    pub async fn group(&self, name: &str, lt: &str, version: &str, size: i32) {
        self.new_group(name, size)
            .launch_template(LaunchTemplateSpecification::builder().launch_template_id(lt).version(version).build())
            .send()
            .await
            .unwrap();
    }

    /// A CreateAutoScalingGroup of `size` instances in this Region, to be given what it launches.
    pub fn new_group(&self, name: &str, size: i32) -> aws_sdk_autoscaling::operation::create_auto_scaling_group::builders::CreateAutoScalingGroupFluentBuilder {
        self.asg()
            .create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .min_size(size)
            .max_size(size * 2)
            .desired_capacity(size)
            .availability_zones(format!("{}a", self.region))
    }

    /// The common world: `n` AMIs of branch "main" (oldest first), a template "app" on
    /// `amis[on]`, and a group "web" of `size` on its version `version`. Returns the AMIs and
    /// the template's id.
    pub async fn app_world(&self, n: usize, on: usize, version: &str, size: i32) -> (Vec<String>, String) {
        let builder = self.builder_instance().await;
        let amis = self.bake(&builder, "main", n).await;
        let lt = self.launch_template("app", &amis[on]).await;
        self.group("web", &lt, version, size).await;
        (amis, lt)
    }

    /// A refresh's world: a template `<group>-lt` with two versions (1: an old AMI, 2: a new
    /// one) and a group of 2 on launch template version `version`, made before version 2, so
    /// its instances run the old AMI. Returns (template id, old AMI, new AMI).
    pub async fn refresh_world(&self, group: &str, version: &str) -> (String, String, String) {
        let builder = self.builder_instance().await;
        let amis = self.bake(&builder, "main", 2).await;
        let lt = self.launch_template(&format!("{group}-lt"), &amis[0]).await;
        self.group(group, &lt, version, 2).await;
        self.add_versions(&lt, &amis[1], 1).await;
        (lt, amis[0].clone(), amis[1].clone())
    }

    /// The AMI each in-service instance of the group runs, sorted.
    pub async fn group_amis(&self, group: &str) -> Vec<String> {
        let out = self.asg().describe_auto_scaling_groups().auto_scaling_group_names(group).send().await.unwrap();
        let ids: Vec<String> =
            out.auto_scaling_groups()[0].instances().iter().filter_map(|i| i.instance_id().map(str::to_owned)).collect();
        if ids.is_empty() {
            return Vec::new();
        }
        let described = self.ec2().describe_instances().set_instance_ids(Some(ids)).send().await.unwrap();
        let mut amis: Vec<String> = described
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) == Some("running"))
            .filter_map(|i| i.image_id().map(str::to_owned))
            .collect();
        amis.sort();
        amis
    }
}

/// A fault-injecting proxy in front of a local AWS (tests/local_aws/fault_proxy.py).
pub struct FaultProxy {
    child: Child,
    pub url: String,
}

impl FaultProxy {
    /// Every `every`th request meets one of `faults` (503, throttle, reset, lost, slow), in turn.
    pub fn start(upstream: &str, every: u32, faults: &str) -> FaultProxy {
        let mut child = Command::new(venv_python())
            .arg(root().join("tests/local_aws/fault_proxy.py"))
            .args([upstream, "--every", &every.to_string(), "--faults", faults, "--slow", "2"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the fault proxy");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.strip_prefix("FAULT_PROXY_READY ").map(|u| u.trim().to_owned()).unwrap_or_else(|| panic!("fault proxy: {line:?}"));
        FaultProxy { child, url }
    }

    /// How many faults of each kind it injected, as the proxy reports them.
    pub fn injected(&self) -> String {
        let out = Command::new(venv_python())
            .arg("-c")
            .arg("import sys,urllib.request as u;print(u.urlopen(sys.argv[1]).read().decode())")
            .arg(format!("{}/_fault_proxy/injected", self.url))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A finished run of a tool.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
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

/// True when `program` is on PATH.
pub fn which(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
}

/// Writes a refresh config into `dir` and returns its path.
pub fn refresh_config(dir: &Path, body: &str) -> String {
    let path = dir.join("refresh.json");
    std::fs::write(&path, body).expect("writing the refresh config");
    path.to_string_lossy().into_owned()
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
