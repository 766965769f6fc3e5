//! Errors as users see them: one line, with the AWS error code and request id when AWS answered.

use std::error::Error as StdError;
use std::fmt;

use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_types::request_id::RequestId;

/// An error from an AWS call, flattened to what a user needs: the code to search for, AWS's
/// message, and the request id to quote to AWS support.
#[derive(Debug, Clone)]
pub struct AwsError {
    /// What we were doing, for example "deregistering ami-0123".
    pub action: String,
    /// AWS's error code (`InvalidAMIID.NotFound`), when AWS answered.
    pub code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
    /// For errors that never reached AWS (timeouts, connection refused): the whole chain.
    pub detail: Option<String>,
}

impl AwsError {
    pub fn from_sdk<E, R>(action: impl Into<String>, err: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        let action = action.into();
        match err {
            SdkError::ServiceError(service) => {
                let meta = service.err().meta();
                AwsError {
                    action,
                    code: meta.code().map(str::to_owned),
                    message: meta.message().map(str::to_owned),
                    request_id: meta.request_id().map(str::to_owned),
                    detail: None,
                }
            }
            other => AwsError {
                action,
                code: None,
                message: None,
                request_id: None,
                detail: Some(one_line(&DisplayErrorContext(other).to_string())),
            },
        }
    }

    /// A hint for the errors users meet most, or `None`.
    fn hint(&self) -> Option<&'static str> {
        let detail = self.detail.as_deref().unwrap_or("");
        match self.code.as_deref() {
            Some("UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException") => {
                Some("the credentials in use lack this permission; the README lists what each tool needs")
            }
            Some("AuthFailure" | "InvalidClientTokenId" | "UnrecognizedClientException") => {
                Some("AWS did not accept the credentials")
            }
            _ if detail.contains("no credentials") || detail.contains("No credentials") => Some(
                "no AWS credentials found: set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where an instance or container role is available",
            ),
            _ if detail.contains("region") && detail.contains("not") => {
                Some("no AWS region: pass --region or set AWS_REGION")
            }
            _ => None,
        }
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.action)?;
        match (&self.code, &self.detail) {
            (Some(code), _) => {
                write!(f, "{code}")?;
                if let Some(message) = &self.message {
                    write!(f, ": {}", one_line(message))?;
                }
            }
            (None, Some(detail)) => write!(f, "{detail}")?,
            (None, None) => write!(f, "unknown error")?,
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        if let Some(hint) = self.hint() {
            write!(f, "; hint: {hint}")?;
        }
        Ok(())
    }
}

impl StdError for AwsError {}

/// Wraps an SDK error into an `anyhow::Error` whose message is one readable line.
pub fn aws_error<E, R>(action: impl Into<String>, err: SdkError<E, R>) -> anyhow::Error
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    anyhow::Error::new(AwsError::from_sdk(action, &err))
}

/// The AWS error code of an SDK error, if AWS answered with one.
pub fn error_code<E, R>(err: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// EC2 answers a permitted DryRun request with the error `DryRunOperation`: this turns that
/// answer into `Ok(None)`, and a real reply into `Ok(Some(..))`.
pub fn dry_run_ok<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<Option<T>, SdkError<E, R>>
where
    E: ProvideErrorMetadata,
{
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if error_code(&e) == Some("DryRunOperation") => Ok(None),
        Err(e) => Err(e),
    }
}

/// Bad input found after argument parsing (for example a config file that does not parse):
/// reported like any error, but with the usage exit status 2.
#[derive(Debug)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Usage {}

/// Folds a message onto one line, so that every error is exactly one line on stderr.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The error as one line: anyhow's chain joined by ": ".
pub fn render(err: &anyhow::Error) -> String {
    one_line(&format!("{err:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_folds_newlines_and_runs_of_space() {
        assert_eq!(one_line("a\n  b\tc "), "a b c");
    }

    #[test]
    fn display_names_code_message_request_id_and_hint() {
        let err = AwsError {
            action: "deregistering ami-1".into(),
            code: Some("UnauthorizedOperation".into()),
            message: Some("You are not\nauthorized".into()),
            request_id: Some("req-1".into()),
            detail: None,
        };
        let text = err.to_string();
        assert!(text.starts_with("deregistering ami-1: UnauthorizedOperation: You are not authorized (request id req-1)"), "{text}");
        assert!(text.contains("hint:"), "{text}");
        assert!(!text.contains('\n'));
    }
}
