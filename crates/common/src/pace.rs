//! Client-side pacing to EC2's request-rate buckets, so that a large prune spends its time
//! working instead of being throttled. EC2 meters each account and Region with token buckets
//! per action: DeregisterImage, DeleteSnapshot, CreateLaunchTemplateVersion and
//! ModifyLaunchTemplate refill 5 tokens a second up to 100; other mutating actions 5 up to
//! 50; describes 20 up to 100. The SDK's retries still cover throttling that other clients of
//! the account cause.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// (burst, refill per second) of EC2's bucket for an action.
pub fn bucket(action: &str) -> (u32, f64) {
    match action {
        "DeregisterImage" | "DeleteSnapshot" | "CreateLaunchTemplateVersion" | "ModifyLaunchTemplate" => (100, 5.0),
        "CreateTags" => (100, 10.0),
        a if a.starts_with("Describe") => (100, 20.0),
        _ => (50, 5.0),
    }
}

/// Paces calls per action. Cheap to clone; clones share the buckets.
#[derive(Clone)]
pub struct Pacer {
    rate: Option<f64>,
    limiters: Arc<std::sync::Mutex<HashMap<String, Arc<DefaultDirectRateLimiter>>>>,
}

impl Pacer {
    /// `rate` overrides every bucket's refill (calls per second); None: EC2's own.
    pub fn new(rate: Option<f64>) -> Self {
        Pacer { rate, limiters: Arc::default() }
    }

    fn limiter(&self, action: &str) -> Arc<DefaultDirectRateLimiter> {
        let mut map = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(action.to_owned())
            .or_insert_with(|| {
                let (burst, refill) = bucket(action);
                let refill = self.rate.unwrap_or(refill);
                let burst = burst.max(refill.ceil() as u32);
                let period = Duration::from_secs_f64(1.0 / refill);
                let quota = Quota::with_period(period)
                    .expect("a positive period")
                    .allow_burst(NonZeroU32::new(burst).expect("burst is at least 50"));
                Arc::new(RateLimiter::direct(quota))
            })
            .clone()
    }

    /// Waits until `action` may be called.
    pub async fn wait(&self, action: &str) {
        self.limiter(action).until_ready().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_ec2s() {
        assert_eq!(bucket("DeregisterImage"), (100, 5.0));
        assert_eq!(bucket("DeleteSnapshot"), (100, 5.0));
        assert_eq!(bucket("DeleteLaunchTemplateVersions"), (50, 5.0));
        assert_eq!(bucket("DescribeImages"), (100, 20.0));
    }

    #[tokio::test]
    async fn the_burst_is_free_and_then_the_refill_paces() {
        let pacer = Pacer::new(Some(50.0));
        let start = std::time::Instant::now();
        for _ in 0..100 {
            pacer.wait("DeregisterImage").await;
        }
        assert!(start.elapsed() < Duration::from_millis(200), "the burst of 100 waits for nothing");
        let start = std::time::Instant::now();
        for _ in 0..10 {
            pacer.wait("DeregisterImage").await;
        }
        let waited = start.elapsed();
        // 10 more at 50 per second: about 0.2 s.
        assert!(waited >= Duration::from_millis(150) && waited < Duration::from_millis(1000), "{waited:?}");
    }
}
