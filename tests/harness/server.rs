//! The local AWS: `tests/local_aws/server.py` on a free loopback port, shared by the tests of
//! one process, each in a Region of its own; its test controls (call counts, injected refresh
//! faults, denied actions); and the fault-injecting proxy.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use aws_config::{BehaviorVersion, Region};

use crate::tools::{bin_dir, root, venv_python};

pub const REGION: &str = "us-east-1";

/// Regions the local AWS knows (`tests/regions.txt`, which the local AWS's own tests read
/// too). Tests that share a server each take one: moto keeps a world per Region, so they never
/// see each other's AMIs, templates, groups or calls.
fn regions() -> Vec<&'static str> {
    include_str!("../regions.txt").lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect()
}

/// A local AWS server process. It stops when dropped, and also when the test process ends
/// (it watches its stdin, which only we hold).
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn spawn(step: f64) -> Server {
        Self::spawn_with(step, &[])
    }

    fn spawn_with(step: f64, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(venv_python())
            .arg(root().join("tests/local_aws/server.py"))
            .arg("--exit-on-stdin-eof")
            .env("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
            .env("LOCAL_AWS_REFRESH_STEP", step.to_string())
            .envs(env.iter().copied())
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
    /// The access key its clients and tool runs sign with (the default account's, or another's:
    /// see [`LocalAws::in_account`]).
    pub keys: (String, String),
}

impl LocalAws {
    /// A fresh Region on a shared server.
    pub async fn start() -> LocalAws {
        Self::start_regions(1).await.pop().expect("one Region")
    }

    /// `n` fresh Regions on one shared server, for a test that works across Regions: each
    /// handle talks to its own Region, and the tools reach the others with --regions.
    pub async fn start_regions(n: usize) -> Vec<LocalAws> {
        let known = regions();
        assert!(n <= known.len());
        let (url, regions) = {
            let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
            if shared.0.is_empty() || shared.1 + n > known.len() {
                shared.0.push(Server::spawn(0.15));
                shared.1 = 0;
            }
            let regions = known[shared.1..shared.1 + n].to_vec();
            shared.1 += n;
            (shared.0.last().unwrap().url.clone(), regions)
        };
        let mut all = Vec::new();
        for region in regions {
            all.push(Self::connect(None, url.clone(), region).await);
        }
        all
    }

    /// A server of its own, in us-east-1: for a test that needs a Region every service is in
    /// (the shared servers hand out Regions where moto has no CodeBuild, for one).
    pub async fn start_alone() -> LocalAws {
        let server = Server::spawn(0.15);
        let url = server.url.clone();
        Self::connect(Some(server), url, REGION).await
    }

    /// A server of its own whose account has not enabled these (opt-in) Regions.
    pub async fn start_not_opted_in(regions: &str) -> LocalAws {
        let server = Server::spawn_with(0.15, &[("LOCAL_AWS_NOT_OPTED_IN", regions)]);
        let url = server.url.clone();
        Self::connect(Some(server), url, REGION).await
    }

    /// `n` Regions of a server of their own, whose instance refreshes take `step` seconds per
    /// step (the first handle keeps the server).
    pub async fn start_regions_with_step(n: usize, step: f64) -> Vec<LocalAws> {
        let server = Server::spawn(step);
        let url = server.url.clone();
        let mut own = Some(server);
        let mut all = Vec::new();
        for region in regions().into_iter().take(n) {
            all.push(Self::connect(own.take(), url.clone(), region).await);
        }
        all
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
        Self::signed_with(own, url, region, ("testing".into(), "testing".into())).await
    }

    async fn signed_with(own: Option<Server>, url: String, region: &'static str, keys: (String, String)) -> LocalAws {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region))
            .endpoint_url(&url)
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(&keys.0, &keys.1, None, None, "tests"))
            .load()
            .await;
        LocalAws { _own: own, url, region, config, keys }
    }

    /// The same Region of the same server, in another account (moto keeps a world per
    /// account): its clients and tool runs sign with an access key of `account`.
    pub async fn in_account(&self, account: &str) -> LocalAws {
        let key = self.control("POST", "account-key", &serde_json::json!({"account": account}).to_string());
        let keys = (key["access_key_id"].as_str().unwrap().to_owned(), key["secret_access_key"].as_str().unwrap().to_owned());
        Self::signed_with(None, self.url.clone(), self.region, keys).await
    }

    /// Makes `role_arn` refuse AssumeRole (AccessDenied), always or unless `external_id` is given.
    pub fn unassumable(&self, role_arn: &str, external_id: Option<&str>) {
        self.control("POST", "unassumable", &serde_json::json!({"role_arn": role_arn, "external_id": external_id}).to_string());
    }

    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.config)
    }

    pub fn asg(&self) -> aws_sdk_autoscaling::Client {
        aws_sdk_autoscaling::Client::new(&self.config)
    }

    pub fn elbv2(&self) -> aws_sdk_elasticloadbalancingv2::Client {
        aws_sdk_elasticloadbalancingv2::Client::new(&self.config)
    }

    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.config)
    }

    /// A CloudWatch metric alarm named `name` in this test's Region (INSUFFICIENT_DATA at first,
    /// as on AWS).
    pub async fn alarm(&self, name: &str) {
        use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
        self.cloudwatch()
            .put_metric_alarm()
            .alarm_name(name)
            .namespace("AWS/ApplicationELB")
            .metric_name("HTTPCode_Target_5XX_Count")
            .statistic(Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            .send()
            .await
            .expect("putting the alarm");
    }

    /// Sets alarm `name`'s state ("OK", "ALARM", "INSUFFICIENT_DATA") with this reason.
    pub async fn alarm_state(&self, name: &str, state: &str, reason: &str) {
        self.cloudwatch()
            .set_alarm_state()
            .alarm_name(name)
            .state_value(state.into())
            .state_reason(reason)
            .send()
            .await
            .expect("setting the alarm's state");
    }

    /// Calls one of the local AWS's test controls (`/_local_aws/...`, see server.py), over HTTP.
    fn control(&self, method: &str, what: &str, body: &str) -> serde_json::Value {
        control(&self.url, method, what, body)
    }

    /// What was published to an SNS topic: each message's subject and body, oldest first.
    pub fn sns_sent(&self, topic_arn: &str) -> Vec<(String, String)> {
        let v = self.control("GET", &format!("sns-sent?topic_arn={topic_arn}"), "");
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| (m["subject"].as_str().unwrap_or("").to_owned(), m["message"].as_str().unwrap().to_owned()))
            .collect()
    }

    /// The calls made in this test's Region since start or the last reset, by IAM action ("ec2:DescribeImages").
    pub fn calls(&self) -> BTreeMap<String, u64> {
        let v = self.control("GET", &format!("calls?region={}", self.region), "");
        v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect()
    }

    /// Other services' permissions that calls used on the caller's behalf in this test's Region
    /// ("ssm:GetParameters" when EC2 resolves a `resolve:ssm:` alias), by IAM action ("ec2:DescribeImages").
    /// The calls `account` made in the test's Region (an account's own, through a role or its keys).
    pub fn calls_by(&self, account: &str) -> BTreeMap<String, u64> {
        let v = self.control("GET", &format!("calls?region={}&account={account}", self.region), "");
        v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect()
    }

    /// The permissions `account`'s calls used on its behalf in the test's Region.
    pub fn authorized_by(&self, account: &str) -> BTreeMap<String, u64> {
        let v = self.control("GET", &format!("authorized?region={}&account={account}", self.region), "");
        v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect()
    }

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

    /// Makes DeregisterImage in this test's Region behave as an endpoint that predates
    /// DeleteAssociatedSnapshots (no per-snapshot results, snapshots left).
    pub fn old_deregister(&self) {
        let body = serde_json::json!({"region": self.region, "on": true});
        self.control("POST", "old-deregister", &body.to_string());
    }

    /// Dates an image `days` back (its CreationDate), as if it had been made then.
    pub fn age_image(&self, image_id: &str, days: f64) {
        let body = serde_json::json!({"region": self.region, "image_id": image_id, "days": days});
        self.control("POST", "image-age", &body.to_string());
    }

    /// Puts an image of this Region in `state` ("pending", "failed", "available") and keeps it
    /// there, as a copy that is slow or failed.
    pub fn image_state(&self, image_id: &str, state: &str) {
        let body = serde_json::json!({"region": self.region, "image_id": image_id, "state": state});
        self.control("POST", "image-state", &body.to_string());
    }

    /// An EC2 Image Builder recipe (`kind` image or container) building on `ami`, as
    /// DescribeImageReferences reports it; returns its ARN.
    pub fn recipe(&self, kind: &str, name: &str, ami: &str) -> String {
        let arn = format!("arn:aws:imagebuilder:{}:123456789012:{kind}-recipe/{name}/1.0.0", self.region);
        let body = serde_json::json!({"region": self.region, "arn": arn, "kind": kind, "parent_image": ami});
        self.control("POST", "recipe", &body.to_string());
        arn
    }

    /// How instances of `image_id` fare: "impaired" (fail the status checks), "unhealthy" (pass
    /// them, fail a load balancer's health check) or "ok".
    pub fn image_health(&self, image_id: &str, status: &str) {
        let body = serde_json::json!({"region": self.region, "image_id": image_id, "status": status});
        self.control("POST", "image-health", &body.to_string());
    }

    /// How an SSM command whose text contains `contains` ends: its exit code, output, and how
    /// long it runs.
    pub fn command_outcome(&self, contains: &str, exit_code: i32, stdout: &str, seconds: f64) {
        let body = serde_json::json!({"region": self.region, "contains": contains, "exit_code": exit_code, "stdout": stdout, "stderr": "", "seconds": seconds});
        self.control("POST", "command-outcome", &body.to_string());
    }

    /// AWS's pace in this test's Region: every call takes `latency_ms` (plus up to `jitter_ms`),
    /// and with `buckets` EC2's request-rate buckets throttle (metering.py), starting full.
    pub fn meter(&self, latency_ms: f64, jitter_ms: f64, buckets: bool) {
        let body = serde_json::json!({"region": self.region, "latency_ms": latency_ms, "jitter_ms": jitter_ms, "buckets": buckets});
        self.control("POST", "metering", &body.to_string());
    }

    /// Empties the bucket of `action` in this test's Region, as other clients of the account
    /// would leave it.
    pub fn drain(&self, action: &str) {
        let body = serde_json::json!({"region": self.region, "action": action});
        self.control("POST", "metering/drain", &body.to_string());
    }

    /// With a latency on ([`LocalAws::meter`]): the calls made since the last reset, and how
    /// many round trips a tool waited for one after another (the longest chain of calls each
    /// made after the one before had been answered).
    pub fn rounds(&self) -> (u64, u64) {
        let v = self.control("GET", &format!("rounds?region={}", self.region), "");
        (v["calls"].as_u64().unwrap(), v["rounds"].as_u64().unwrap())
    }

    /// The calls answered RequestLimitExceeded in this test's Region, by action.
    pub fn throttled(&self) -> BTreeMap<String, u64> {
        let v = self.control("GET", &format!("throttled?region={}", self.region), "");
        v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect()
    }

    /// EC2's eventual consistency in this test's Region (consistency.py): each instance, AMI and
    /// launch template version made from now on is unknown by its ID for `seconds` (0: off).
    pub fn consistency(&self, seconds: f64) {
        let body = serde_json::json!({"region": self.region, "seconds": seconds});
        self.control("POST", "consistency", &body.to_string());
    }

    /// The calls refused for naming an ID not known yet, by action, in this test's Region.
    pub fn refused(&self) -> BTreeMap<String, u64> {
        let v = self.control("GET", &format!("consistency/refused?region={}", self.region), "");
        v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect()
    }

    /// Takes these actions ("ec2:DeregisterImage") away in this test's Region (an empty list
    /// gives them back).
    pub fn deny(&self, actions: &[&str]) {
        let body = serde_json::json!({"region": self.region, "actions": actions});
        self.control("POST", "deny", &body.to_string());
    }
}

/// One request to the local AWS's controls at `url` (`http://127.0.0.1:PORT`): the reply's
/// JSON. A plain socket, not a Python process a call: the controls are small loopback replies.
fn control(url: &str, method: &str, what: &str, body: &str) -> serde_json::Value {
    let payload = request(url, method, &format!("/_local_aws/{what}"), body);
    serde_json::from_str(&payload).unwrap_or_else(|e| panic!("control {what}: the reply is not JSON ({e}): {payload}"))
}

/// One HTTP/1.1 request to a loopback test server at `url`; the reply's body (a 200 only).
fn request(url: &str, method: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let authority = url.strip_prefix("http://").expect("the test servers are plain http").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(authority).expect("connecting to a test server");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("sending a request to a test server");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("reading a control reply");
    let (head, payload) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
    assert!(head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"), "{method} {path}: {head}\n{payload}");
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(payload)
    } else {
        payload.to_owned()
    }
}

/// The body of a chunked HTTP reply.
fn dechunk(mut text: &str) -> String {
    let mut body = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        body.push_str(&rest[..n]);
        text = rest[n..].trim_start_matches("\r\n");
    }
    body
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
        request(&self.url, "GET", "/_fault_proxy/injected", "").trim().to_owned()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
