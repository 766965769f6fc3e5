//! The one place that loads AWS config and builds clients.
//!
//! The standard chain does the work (environment, profiles, SSO, container and instance
//! credentials, `AWS_ENDPOINT_URL`, `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`); a flag overrides a
//! setting only when the user gives it, because setting a value in code silently disables
//! the lookup of that value.

use std::time::Duration;

use anyhow::{bail, Result};
use aws_config::retry::{RetryConfig, RetryMode};
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::aws::error::Usage;
use crate::cli::flags::AwsArgs;

/// Loaded AWS config, and the clients built from it on demand. A clone shares the pacer: the
/// steps of one target (one account and Region) draw on the same request-rate buckets.
#[derive(Clone)]
pub struct Context {
    config: SdkConfig,
    pacer: crate::aws::pace::Pacer,
    rate: Option<f64>,
}

/// What the process environment says about retries, checked before the SDK reads it: the SDK
/// panics on `AWS_MAX_ATTEMPTS=0` or `=abc`, and rejects `AWS_RETRY_MODE=legacy`, which the
/// AWS CLI accepts.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RetryEnv {
    /// Leave retries to the SDK's standard lookup.
    Standard,
    /// `legacy` was asked for: use standard retries with this many attempts (None: default).
    LegacyAsStandard(Option<u32>),
}

pub(crate) fn check_retry_env(max_attempts: Option<&str>, retry_mode: Option<&str>) -> Result<RetryEnv, Usage> {
    let attempts = match max_attempts {
        None => None,
        Some(raw) => match raw.trim().parse::<u32>() {
            Ok(0) => return Err(Usage("AWS_MAX_ATTEMPTS must be 1 or more (1 means no retries), not 0".into())),
            Ok(n) => Some(n),
            Err(_) => return Err(Usage(format!("AWS_MAX_ATTEMPTS must be a whole number of 1 or more, not {raw:?}"))),
        },
    };
    match retry_mode.map(str::trim) {
        None => Ok(RetryEnv::Standard),
        Some(mode) if mode.eq_ignore_ascii_case("legacy") => Ok(RetryEnv::LegacyAsStandard(attempts)),
        Some(mode) if mode.eq_ignore_ascii_case("standard") || mode.eq_ignore_ascii_case("adaptive") => Ok(RetryEnv::Standard),
        Some(mode) => Err(Usage(format!("AWS_RETRY_MODE must be standard, adaptive or legacy, not {mode:?}"))),
    }
}

/// Refuses an endpoint that would send signed requests in clear text across a network.
/// Plain http is fine on loopback (the local AWS the tests use).
pub(crate) fn check_endpoint(url: &str, allow_insecure: bool) -> Result<(), Usage> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Ok(());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback || allow_insecure {
        Ok(())
    } else {
        Err(Usage(format!(
            "refusing plain-http endpoint {url}: credentials and requests would cross the network unencrypted (use https, or pass --allow-insecure-endpoint)"
        )))
    }
}

impl Context {
    /// Loads config once from the standard chain, applying only the overrides the user gave,
    /// and assumes --role-arn (in a session named after `tool`) if given.
    /// `rate` is `--rate` for the tools that pace their mutating calls; `fallback_region` is
    /// the Region to use when neither --region nor the chain names one (the first of
    /// `--regions`).
    pub async fn load(tool: &str, args: &AwsArgs, rate: Option<f64>, fallback_region: Option<&str>) -> Result<Self> {
        let env = |k: &str| std::env::var(k).ok();
        let retry = check_retry_env(env("AWS_MAX_ATTEMPTS").as_deref(), env("AWS_RETRY_MODE").as_deref())?;
        for url in [
            args.endpoint_url.clone(),
            env("AWS_ENDPOINT_URL"),
            env("AWS_ENDPOINT_URL_EC2"),
            env("AWS_ENDPOINT_URL_AUTO_SCALING"),
            env("AWS_ENDPOINT_URL_SSM"),
            env("AWS_ENDPOINT_URL_CLOUDWATCH"),
            env("AWS_ENDPOINT_URL_SNS"),
            env("AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2"),
        ]
        .into_iter()
        .flatten()
        {
            check_endpoint(&url, args.allow_insecure_endpoint)?;
        }

        // Stalled-stream protection watches each response body's throughput with timers; the
        // replies here are small and every attempt has a timeout, which bounds a stall too,
        // and without it each call costs less CPU (measured by scripts/bench).
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(crate::aws::http::client(Duration::from_secs_f64(args.attempt_timeout)))
            .stalled_stream_protection(aws_config::stalled_stream_protection::StalledStreamProtectionConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_millis(3100))
                    // The attempt timeout is the HTTP client's (`aws::http`): it starts when the
                    // pacer lets an attempt go. A stalled reply body is bounded by reads too.
                    .read_timeout(Duration::from_secs_f64(args.attempt_timeout))
                    .operation_timeout(Duration::from_secs_f64(args.operation_timeout))
                    .build(),
            );
        if let RetryEnv::LegacyAsStandard(attempts) = retry {
            tracing::warn!("AWS_RETRY_MODE=legacy is not supported by this SDK; using standard retries");
            let mut config = RetryConfig::standard().with_retry_mode(RetryMode::Standard);
            if let Some(n) = attempts {
                config = config.with_max_attempts(n);
            }
            loader = loader.retry_config(config);
        }
        if let Some(region) = &args.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &args.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &args.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let mut config = loader.load().await;
        if let (None, Some(region)) = (config.region(), fallback_region) {
            config = config.to_builder().region(Region::new(region.to_owned())).build();
        }
        if config.region().is_none() {
            bail!(Usage("no AWS region: pass --region, set AWS_REGION, or set region in the profile".into()));
        }
        if let Some(role) = &args.role_arn {
            config = crate::aws::assume::assume(config, role, args.external_id.as_ref(), tool).await?;
        }
        Ok(Context { config, pacer: crate::aws::pace::Pacer::new(rate), rate })
    }

    /// The same config in another Region, with a pacer of its own: EC2 meters request rates
    /// per account and Region.
    pub fn in_region(&self, region: &str) -> Context {
        let config = self.config.to_builder().region(Region::new(region.to_owned())).build();
        Context { config, pacer: crate::aws::pace::Pacer::new(self.rate), rate: self.rate }
    }

    /// The same Region through `role` (in its account), assumed now, with a pacer of its
    /// own: EC2 meters each account apart.
    pub async fn assuming(
        &self,
        tool: &str,
        role: &crate::aws::ids::RoleArn,
        external_id: Option<&crate::aws::ids::ExternalId>,
    ) -> Result<Context> {
        let config = crate::aws::assume::assume(self.config.clone(), role, external_id, tool).await?;
        Ok(Context { config, pacer: crate::aws::pace::Pacer::new(self.rate), rate: self.rate })
    }

    /// The Region the clients talk to.
    pub fn region(&self) -> &str {
        self.config.region().map_or("", |r| r.as_ref())
    }

    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        let config = aws_sdk_ec2::config::Builder::from(&self.config)
            .interceptor(crate::aws::calllog::CallLog)
            .interceptor(crate::aws::pace::Metered(self.pacer.clone()))
            .build();
        aws_sdk_ec2::Client::from_conf(config)
    }

    pub fn autoscaling(&self) -> aws_sdk_autoscaling::Client {
        let config = aws_sdk_autoscaling::config::Builder::from(&self.config).interceptor(crate::aws::calllog::CallLog).build();
        aws_sdk_autoscaling::Client::from_conf(config)
    }

    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        let config = aws_sdk_cloudwatch::config::Builder::from(&self.config).interceptor(crate::aws::calllog::CallLog).build();
        aws_sdk_cloudwatch::Client::from_conf(config)
    }

    pub fn sns(&self) -> aws_sdk_sns::Client {
        let config = aws_sdk_sns::config::Builder::from(&self.config).interceptor(crate::aws::calllog::CallLog).build();
        aws_sdk_sns::Client::from_conf(config)
    }

    pub fn ssm(&self) -> aws_sdk_ssm::Client {
        let config = aws_sdk_ssm::config::Builder::from(&self.config).interceptor(crate::aws::calllog::CallLog).build();
        aws_sdk_ssm::Client::from_conf(config)
    }

    pub fn elbv2(&self) -> aws_sdk_elasticloadbalancingv2::Client {
        let config = aws_sdk_elasticloadbalancingv2::config::Builder::from(&self.config).interceptor(crate::aws::calllog::CallLog).build();
        aws_sdk_elasticloadbalancingv2::Client::from_conf(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_env_accepts_what_the_sdk_accepts() {
        assert_eq!(check_retry_env(None, None).unwrap(), RetryEnv::Standard);
        assert_eq!(check_retry_env(Some("5"), Some("adaptive")).unwrap(), RetryEnv::Standard);
        assert_eq!(check_retry_env(Some("1"), Some("Standard")).unwrap(), RetryEnv::Standard);
    }

    #[test]
    fn retry_env_rejects_what_would_panic() {
        assert!(check_retry_env(Some("0"), None).unwrap_err().0.contains("not 0"));
        assert!(check_retry_env(Some("abc"), None).unwrap_err().0.contains("\"abc\""));
        assert!(check_retry_env(None, Some("fast")).is_err());
    }

    #[test]
    fn legacy_retry_mode_becomes_standard() {
        assert_eq!(check_retry_env(Some("4"), Some("legacy")).unwrap(), RetryEnv::LegacyAsStandard(Some(4)));
    }

    #[test]
    fn plain_http_only_on_loopback_unless_allowed() {
        assert!(check_endpoint("http://127.0.0.1:5000", false).is_ok());
        assert!(check_endpoint("http://localhost:5000/", false).is_ok());
        assert!(check_endpoint("http://[::1]:5000", false).is_ok());
        assert!(check_endpoint("https://ec2.example.com", false).is_ok());
        assert!(check_endpoint("http://10.0.0.1:5000", false).is_err());
        assert!(check_endpoint("http://ec2.example.com", false).is_err());
        assert!(check_endpoint("http://ec2.example.com", true).is_ok());
    }
}
