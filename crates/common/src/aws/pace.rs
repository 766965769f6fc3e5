//! Client-side pacing to EC2's request-rate buckets, so that a large prune spends its time
//! working instead of being throttled. EC2 meters each account and Region with token buckets:
//! DeregisterImage, DeleteSnapshot, CreateLaunchTemplateVersion and ModifyLaunchTemplate
//! refill 5 tokens a second up to 100; CreateTags 10 up to 100; other mutating actions 5 up
//! to 50; describes 20 up to 100.
//!
//! One place takes the tokens: [`Metered`], an interceptor on every EC2 client (and on no
//! other service's), takes one for each attempt the SDK is about to send, by the operation's
//! own name as the SDK knows it, so a paged describe and a retry spend theirs too and no call
//! site names an action. When the model is in debt the attempt carries the instant it may go
//! ([`PaceUntil`]), and the HTTP connector holds it until then (`aws::http`); the attempt
//! timeout starts when it leaves. The model is stricter than EC2 in two ways:
//! - all non-mutating calls (Describe*, Get*, List*, Search*) share one bucket (AWS documents
//!   a bucket per action; sharing can only wait longer, never be throttled);
//! - it never spends a bucket's last [`reserve`] tokens, one second's refill and one more:
//!   EC2 adds a second's refill at once, every whole second, so a model that refills
//!   smoothly runs up to a second's refill ahead of EC2's bucket, and calls released at
//!   exactly the refill rate by several workers reach EC2 with jitter; a pacer that drains
//!   the bucket to zero gets some calls throttled. With the reserve, a burst has that many
//!   fewer free calls (1.2 s of DeregisterImage's refill) and the steady rate is EC2's own.
//!
//! `--rate` replaces every bucket's refill (the reserve follows it). Throttling that other
//! clients of the account cause is retried by the SDK, as any throttled call is. A held
//! attempt is signed before it waits; the waits are seconds, well inside the five minutes
//! of clock skew SigV4 allows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// The tokens of a bucket (of `size`, refilling `refill` a second) the pacer leaves unspent:
/// one second's refill, which EC2 adds at once, and one for arrival jitter.
pub fn reserve(size: u32, refill: f64) -> f64 {
    (refill.ceil() + 1.0).min(f64::from(size) / 2.0)
}

/// The bucket an EC2 action draws from in the pacer's model: its name, size (burst) and
/// refill per second. Non-mutating actions share one.
pub fn bucket(action: &str) -> (&str, u32, f64) {
    match action {
        "DeregisterImage" | "DeleteSnapshot" | "CreateLaunchTemplateVersion" | "ModifyLaunchTemplate" => (action, 100, 5.0),
        "CreateTags" => (action, 100, 10.0),
        a if ["Describe", "Get", "List", "Search"].iter().any(|p| a.starts_with(p)) => ("non-mutating", 100, 20.0),
        _ => (action, 50, 5.0),
    }
}

#[derive(Debug)]
struct Bucket {
    /// Tokens the pacer may still spend (negative: owed, later calls wait for the refill).
    tokens: f64,
    most: f64,
    refill: f64,
    at: Instant,
}

impl Bucket {
    fn new(size: u32, refill: f64) -> Self {
        let most = f64::from(size) - reserve(size, refill);
        Bucket { tokens: most, most, refill, at: Instant::now() }
    }

    fn refill(&mut self, now: Instant) {
        let gained = now.saturating_duration_since(self.at).as_secs_f64() * self.refill;
        self.tokens = (self.tokens + gained).min(self.most);
        self.at = now;
    }

    /// Takes a token; how long until it is there.
    fn take(&mut self, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.refill)
        }
    }
}

/// Paces EC2 calls per bucket. Cheap to clone; clones share the buckets.
#[derive(Debug, Clone)]
pub struct Pacer {
    rate: Option<f64>,
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

impl Pacer {
    /// `rate` overrides every bucket's refill (calls per second); None: EC2's own.
    pub fn new(rate: Option<f64>) -> Self {
        Pacer { rate, buckets: Arc::default() }
    }

    fn with_bucket<T>(&self, action: &str, f: impl FnOnce(&mut Bucket) -> T) -> T {
        let (name, size, refill) = bucket(action);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(name.to_owned()).or_insert_with(|| Bucket::new(size, self.rate.unwrap_or(refill)));
        f(bucket)
    }

    /// Takes a token for one request of `action` about to be sent; how long it must wait for
    /// it (zero while the model has tokens).
    pub fn take(&self, action: &str) -> Duration {
        self.with_bucket(action, |b| b.take(Instant::now()))
    }

    /// The tokens left in `action`'s bucket.
    #[cfg(test)]
    fn tokens(&self, action: &str) -> f64 {
        self.with_bucket(action, |b| {
            b.refill(Instant::now());
            b.tokens
        })
    }
}

/// When an attempt may be sent: the pacer's answer, carried on the request to the HTTP
/// connector, which holds it until then.
#[derive(Debug, Clone, Copy)]
pub struct PaceUntil(pub Instant);

/// Takes a token for every attempt an EC2 client sends, by the SDK's name for the operation.
#[derive(Debug)]
pub struct Metered(pub Pacer);

impl Intercept for Metered {
    fn name(&self) -> &'static str {
        "Metered"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            let delay = self.0.take(metadata.name());
            if !delay.is_zero() {
                context.request_mut().add_extension(PaceUntil(Instant::now() + delay));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_ec2s_and_the_describes_share_one() {
        assert_eq!(bucket("DeregisterImage"), ("DeregisterImage", 100, 5.0));
        assert_eq!(bucket("DeleteSnapshot"), ("DeleteSnapshot", 100, 5.0));
        assert_eq!(bucket("DeleteLaunchTemplateVersions"), ("DeleteLaunchTemplateVersions", 50, 5.0));
        assert_eq!(bucket("DescribeImages"), ("non-mutating", 100, 20.0));
        assert_eq!(bucket("DescribeImageAttribute").0, bucket("GetConsoleOutput").0);
    }

    #[test]
    fn the_burst_less_the_reserve_is_free() {
        let pacer = Pacer::new(None);
        for _ in 0..94 {
            assert_eq!(pacer.take("DeregisterImage"), Duration::ZERO, "94 of the 100 wait for nothing");
        }
        assert!(pacer.tokens("DeregisterImage") < 0.5, "a second's refill and one more are left to EC2");
        assert_eq!(reserve(100, 20.0), 21.0, "the describes'");
        assert_eq!(reserve(50, 100.0), 25.0, "--rate 100: at most half the bucket");
    }

    #[test]
    fn the_describes_draw_from_one_bucket() {
        let pacer = Pacer::new(None);
        let full = pacer.tokens("DescribeImages");
        pacer.take("DescribeImages");
        pacer.take("DescribeInstances");
        assert!((full - pacer.tokens("DescribeImages") - 2.0).abs() < 0.01);
    }

    #[test]
    fn past_the_model_each_call_waits_one_refill_longer_than_the_one_before() {
        let pacer = Pacer::new(Some(50.0));
        while pacer.take("DeregisterImage").is_zero() {}
        // The first call in debt waits a fiftieth of a second; ten more, one more each.
        let waits: Vec<Duration> = (0..10).map(|_| pacer.take("DeregisterImage")).collect();
        assert!(waits.windows(2).all(|w| w[1] > w[0]), "{waits:?}");
        let last = waits[9].as_secs_f64();
        assert!((0.19..0.5).contains(&last), "eleven calls in debt at 50 a second: about 0.22 s, got {last}");
    }

    /// An EC2 client through `rules`, in order, counting its attempts against `pacer`.
    fn metered_client(pacer: &Pacer, rules: &[&aws_smithy_mocks::Rule]) -> aws_sdk_ec2::Client {
        use aws_smithy_mocks::{create_mock_http_client, MockResponseInterceptor, RuleMode};
        let mocks = rules.iter().fold(MockResponseInterceptor::new().rule_mode(RuleMode::Sequential), |i, r| i.with_rule(r));
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
            .region(aws_sdk_ec2::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "tests"))
            .http_client(create_mock_http_client())
            .interceptor(mocks)
            .interceptor(Metered(pacer.clone()))
            .retry_config(
                aws_smithy_types::retry::RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1)),
            )
            .build();
        aws_sdk_ec2::Client::from_conf(config)
    }

    #[tokio::test]
    async fn every_attempt_the_sdk_sends_takes_a_token_by_its_operation_a_retry_too() {
        use aws_sdk_ec2::operation::deregister_image::DeregisterImageOutput;
        use aws_sdk_ec2::operation::describe_images::DescribeImagesOutput;
        use aws_smithy_mocks::mock;
        let throttled = mock!(aws_sdk_ec2::Client::deregister_image)
            .sequence()
            .http_status(503, Some("<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>1</RequestID></Response>".into()))
            .output(|| DeregisterImageOutput::builder().build())
            .build();
        let listed = mock!(aws_sdk_ec2::Client::describe_images).then_output(|| DescribeImagesOutput::builder().build());
        // Next to no refill, so that the tokens left tell the tokens spent.
        let pacer = Pacer::new(Some(1e-6));
        let ec2 = metered_client(&pacer, &[&throttled, &listed]);
        let (deregisters, describes) = (pacer.tokens("DeregisterImage"), pacer.tokens("DescribeImages"));

        ec2.deregister_image().image_id("ami-1").send().await.expect("the retry succeeds");
        ec2.describe_images().send().await.expect("listed");

        // The first attempt and its retry took one each; the describe one from the describes'.
        assert!((deregisters - pacer.tokens("DeregisterImage") - 2.0).abs() < 0.01);
        assert!((describes - pacer.tokens("DescribeImages") - 1.0).abs() < 0.01);
    }
}
