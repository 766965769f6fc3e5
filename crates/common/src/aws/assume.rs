//! Acting through a role (`--role-arn`, `--external-id`): STS's AssumeRole on top of the
//! standard chain's credentials, in a session named after the tool, so that CloudTrail in the
//! role's account says which tool did what.
//!
//! The role is assumed once before the tool's first call, so a role that cannot be assumed is
//! one clear error (exit 1, STS's code and message) before anything is read or changed; the
//! SDK's identity cache then reuses those credentials and, near their expiry (an hour), asks
//! STS again: a refresh that waits for hours keeps working.

use std::error::Error as StdError;
use std::sync::Mutex;

use anyhow::{anyhow, Result};
use aws_config::sts::AssumeRoleProvider;
use aws_config::SdkConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sdk_sts::error::SdkError;
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::aws::error::AwsError;
use crate::aws::ids::{ExternalId, RoleArn};

/// The first credentials, handed out once; then the role is assumed again when asked.
#[derive(Debug)]
struct Assumed {
    first: Mutex<Option<Credentials>>,
    provider: AssumeRoleProvider,
}

impl ProvideCredentials for Assumed {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        if let Some(creds) = self.first.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return future::ProvideCredentials::ready(Ok(creds));
        }
        self.provider.provide_credentials()
    }
}

/// STS's RoleSessionName: 2 to 64 of `[\w+=,.@-]`; the tool's name and the process ID.
pub fn session_name(tool: &str) -> String {
    let name: String =
        format!("{tool}-{}", std::process::id()).chars().filter(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(*c)).collect();
    name.chars().take(64).collect()
}

/// STS's answer as one line with its code, message and request ID, where it is in the chain.
fn refused(role: &RoleArn, err: &CredentialsError) -> anyhow::Error {
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(sdk) = e.downcast_ref::<SdkError<AssumeRoleError, HttpResponse>>() {
            return anyhow::Error::new(AwsError::from_sdk(format!("assuming role {role}"), sdk));
        }
        source = e.source();
    }
    anyhow!("assuming role {role}: {}", crate::aws::error::one_line(&DisplayErrorContext(err).to_string()))
}

/// `config` with credentials of `role`, assumed now.
pub async fn assume(config: SdkConfig, role: &RoleArn, external_id: Option<&ExternalId>, tool: &str) -> Result<SdkConfig> {
    let mut builder = AssumeRoleProvider::builder(role.as_str()).session_name(session_name(tool)).configure(&config);
    if let Some(id) = external_id {
        builder = builder.external_id(id.as_str());
    }
    let provider = builder.build().await;
    let first = provider.provide_credentials().await.map_err(|e| refused(role, &e))?;
    tracing::info!("assumed role {role} (session {})", session_name(tool));
    let assumed = Assumed { first: Mutex::new(Some(first)), provider };
    Ok(config.to_builder().credentials_provider(SharedCredentialsProvider::new(assumed)).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_fit_sts() {
        let name = session_name("bump-launch-template");
        assert!(name.starts_with("bump-launch-template-") && name.len() <= 64, "{name}");
    }
}
