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

/// The AWS error codes the tools act on, matched here and nowhere else: a typo in a code
/// string would silently turn a handled case into a failure (or the reverse). EC2 does not
/// model its errors in the SDK, so its codes are strings on the wire; Auto Scaling's and SSM's
/// modelled errors are matched by the SDK's own types where they are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// EC2's answer to a permitted DryRun request (`DryRunOperation`).
    DryRunOperation,
    /// The AMI is not known (`InvalidAMIID.NotFound`).
    AmiNotFound,
    /// The AMI is deregistered or cannot be used (`InvalidAMIID.Unavailable`).
    AmiUnavailable,
    /// The snapshot is not known (`InvalidSnapshot.NotFound`).
    SnapshotNotFound,
    /// Another AMI uses the snapshot (`InvalidSnapshot.InUse`).
    SnapshotInUse,
    /// The instance is not known (`InvalidInstanceID.NotFound`).
    InstanceNotFound,
    /// The launch template is not known, or its ID or name is malformed
    /// (`InvalidLaunchTemplateId.*`, `InvalidLaunchTemplateName.*`, but for a version).
    LaunchTemplateNotFound,
    /// The template has no such version (`InvalidLaunchTemplateId.VersionNotFound`).
    LaunchTemplateVersionNotFound,
    /// The request's parameters were refused (Auto Scaling's `ValidationError`).
    Validation,
    /// No capacity for the instance type in the subnet's zone (`InsufficientInstanceCapacity`).
    InsufficientCapacity,
    /// The instance type is not offered in the subnet's zone (`Unsupported`).
    Unsupported,
    /// The subnet has no free address (`InsufficientFreeAddressesInSubnet`).
    InsufficientAddresses,
    /// Elastic Load Balancing does not know the target (`InvalidTarget`).
    InvalidTarget,
}

impl Code {
    /// The code as AWS spells it, typed; `None` for a code the tools do not act on.
    pub fn parse(code: &str) -> Option<Code> {
        Some(match code {
            "DryRunOperation" => Code::DryRunOperation,
            "InvalidAMIID.NotFound" => Code::AmiNotFound,
            "InvalidAMIID.Unavailable" => Code::AmiUnavailable,
            "InvalidSnapshot.NotFound" => Code::SnapshotNotFound,
            "InvalidSnapshot.InUse" => Code::SnapshotInUse,
            "InvalidInstanceID.NotFound" => Code::InstanceNotFound,
            "InvalidLaunchTemplateId.VersionNotFound" => Code::LaunchTemplateVersionNotFound,
            c if c.starts_with("InvalidLaunchTemplateId.") || c.starts_with("InvalidLaunchTemplateName.") => Code::LaunchTemplateNotFound,
            "ValidationError" => Code::Validation,
            "InsufficientInstanceCapacity" => Code::InsufficientCapacity,
            "Unsupported" => Code::Unsupported,
            "InsufficientFreeAddressesInSubnet" => Code::InsufficientAddresses,
            "InvalidTarget" => Code::InvalidTarget,
            _ => return None,
        })
    }

    /// The code of an SDK error, if AWS answered with one the tools act on.
    pub fn of<E, R>(err: &SdkError<E, R>) -> Option<Code>
    where
        E: ProvideErrorMetadata,
    {
        error_code(err).and_then(Code::parse)
    }

    /// The template, or its version, is not there.
    pub fn template_missing(self) -> bool {
        matches!(self, Code::LaunchTemplateNotFound | Code::LaunchTemplateVersionNotFound)
    }

    /// A launch refused for the subnet's zone or addresses, which another subnet may not be.
    pub fn another_subnet_may_help(self) -> bool {
        matches!(self, Code::InsufficientCapacity | Code::Unsupported | Code::InsufficientAddresses)
    }
}

/// Auto Scaling refused a launch template version it does not know: a `ValidationError` whose
/// message says the version does not exist (or is not found). Auto Scaling documents no code of
/// its own for it, so the message is read, here and nowhere else.
pub fn unknown_version<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    let message = match err {
        SdkError::ServiceError(service) if Code::of(err) == Some(Code::Validation) => service.err().message().unwrap_or("").to_lowercase(),
        _ => return false,
    };
    message.contains("version") && (message.contains("does not exist") || message.contains("not found"))
}

/// The AWS error code of an SDK error, as AWS spells it, if AWS answered with one.
fn error_code<E, R>(err: &SdkError<E, R>) -> Option<&str>
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
        Err(e) if Code::of(&e) == Some(Code::DryRunOperation) => Ok(None),
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
    fn the_codes_the_tools_act_on_are_typed_and_others_are_not() {
        assert_eq!(Code::parse("InvalidAMIID.NotFound"), Some(Code::AmiNotFound));
        assert_eq!(Code::parse("InvalidLaunchTemplateId.Malformed"), Some(Code::LaunchTemplateNotFound));
        assert_eq!(Code::parse("InvalidLaunchTemplateName.NotFoundException"), Some(Code::LaunchTemplateNotFound));
        assert_eq!(Code::parse("InvalidLaunchTemplateId.VersionNotFound"), Some(Code::LaunchTemplateVersionNotFound));
        assert!(Code::parse("InvalidLaunchTemplateId.NotFound").is_some_and(Code::template_missing));
        assert!(Code::parse("Unsupported").is_some_and(Code::another_subnet_may_help));
        assert_eq!(Code::parse("InvalidAMIID.Malformed"), None, "a malformed ID the user gave stays an error");
        assert_eq!(Code::parse("RequestLimitExceeded"), None);
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
