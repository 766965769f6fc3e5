//! Client-side pacing to EC2's request-rate buckets, so that a large prune spends its time
//! working instead of being throttled. EC2 meters each account and Region with token buckets:
//! DeregisterImage, DeleteSnapshot, CreateLaunchTemplateVersion and ModifyLaunchTemplate
//! refill 5 tokens a second up to 100; CreateTags 10 up to 100; other mutating actions 5 up
//! to 50; describes 20 up to 100.
//!
//! The pacer keeps a model of each bucket and counts every EC2 request against it, not only
//! the calls that wait for it: [`Pacer::wait`] takes a token before a call is made (waiting
//! when the model is empty), and [`Metered`], an interceptor on every EC2 client, counts each
//! attempt as it is sent, so a paged describe, or a retry, that did not wait still spends its
//! token and later calls wait for it. The model is stricter than EC2 in two ways:
//! - all non-mutating calls (Describe*, Get*, List*, Search*) share one bucket (AWS documents
//!   a bucket per action; sharing can only wait longer, never be throttled);
//! - it never spends the last tenth of a bucket ([`RESERVE`]): calls released at exactly the
//!   refill rate by several workers reach EC2 with jitter, and EC2 refills by the whole
//!   second, so a pacer that drains the bucket to zero gets some calls throttled. With the
//!   reserve, a burst costs a tenth fewer free calls and the steady rate is EC2's own.
//!
//! `--rate` replaces every bucket's refill (and the reserve still holds). Throttling that other
//! clients of the account cause is retried by the SDK, as any throttled call is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// The share of each bucket the pacer leaves unspent.
pub const RESERVE: f64 = 0.1;

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
    /// Tokens [`Pacer::wait`] took for calls not yet sent.
    prepaid: u32,
}

impl Bucket {
    fn new(size: u32, refill: f64) -> Self {
        let most = f64::from(size) * (1.0 - RESERVE);
        Bucket { tokens: most, most, refill, at: Instant::now(), prepaid: 0 }
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

    /// Waits until `action` may be called, taking its token: the call's send is not counted
    /// again.
    pub async fn wait(&self, action: &str) {
        let delay = self.with_bucket(action, |b| {
            b.prepaid += 1;
            b.take(Instant::now())
        });
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    /// Counts one request of `action` as it is sent: a token [`Pacer::wait`] took for it, or
    /// else one more now.
    pub fn sent(&self, action: &str) {
        self.with_bucket(action, |b| {
            if b.prepaid > 0 {
                b.prepaid -= 1;
            } else {
                b.take(Instant::now());
            }
        });
    }

    /// The tokens left in `action`'s bucket (for tests).
    pub fn tokens(&self, action: &str) -> f64 {
        self.with_bucket(action, |b| {
            b.refill(Instant::now());
            b.tokens
        })
    }
}

/// Counts every attempt an EC2 client sends against the pacer's buckets.
#[derive(Debug)]
pub struct Metered(pub Pacer);

impl Intercept for Metered {
    fn name(&self) -> &'static str {
        "Metered"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            self.0.sent(metadata.name());
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

    #[tokio::test]
    async fn the_burst_less_the_reserve_is_free() {
        let pacer = Pacer::new(None);
        let start = std::time::Instant::now();
        for _ in 0..90 {
            pacer.wait("DeregisterImage").await;
        }
        assert!(start.elapsed() < Duration::from_millis(100), "90 of the 100 wait for nothing");
        assert!(pacer.tokens("DeregisterImage") < 0.5, "the reserve of 10 is left to EC2");
    }

    #[tokio::test]
    async fn a_send_that_did_not_wait_spends_a_token_and_one_that_did_is_not_counted_twice() {
        let pacer = Pacer::new(None);
        let full = pacer.tokens("DescribeImages");
        pacer.sent("DescribeImages");
        pacer.sent("DescribeInstances");
        assert!((full - pacer.tokens("DescribeImages") - 2.0).abs() < 0.01, "both describes draw from one bucket");
        let before = pacer.tokens("DeregisterImage");
        pacer.wait("DeregisterImage").await;
        pacer.sent("DeregisterImage");
        assert!((before - pacer.tokens("DeregisterImage") - 1.0).abs() < 0.01);
    }

    #[tokio::test]
    async fn past_the_model_calls_wait_for_the_refill() {
        let pacer = Pacer::new(Some(50.0));
        for _ in 0..90 {
            pacer.sent("DeregisterImage");
        }
        let start = std::time::Instant::now();
        for _ in 0..10 {
            pacer.wait("DeregisterImage").await;
        }
        let waited = start.elapsed();
        // 10 more at 50 a second: about 0.2 s.
        assert!(waited >= Duration::from_millis(150) && waited < Duration::from_millis(1000), "{waited:?}");
    }
}
