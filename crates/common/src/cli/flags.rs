//! The flag groups tools flatten as they need them (each under its own heading in --help), and
//! the parsers of their numbers.

use clap::Args;

use crate::aws::ids::{ExternalId, RoleArn};
use crate::cli::output::OutputFormat;

/// How to reach AWS. Without these flags the standard chain decides.
#[derive(Args, Debug, Clone)]
pub struct AwsArgs {
    /// AWS Region to use (default: the standard chain: AWS_REGION, then the profile).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// Named profile from ~/.aws/config to use (default: AWS_PROFILE, then "default").
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// Act in another account (or as another role): assume this IAM role on top of the
    /// standard chain's credentials, with a session named after the tool.
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<RoleArn>,

    /// The external ID the role's trust policy asks for (with --role-arn).
    #[arg(long, value_name = "ID", requires = "role_arn")]
    pub external_id: Option<ExternalId>,

    /// Send requests to this endpoint instead of AWS's (AWS_ENDPOINT_URL works too).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Allow a plain-http endpoint that is not on loopback (credentials cross the network unencrypted).
    #[arg(long)]
    pub allow_insecure_endpoint: bool,

    /// Give up on one attempt of an AWS call after this many seconds (the SDK then retries).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true, default_value_t = 30.0, value_parser = positive_secs)]
    pub attempt_timeout: f64,

    /// Give up on an AWS call, retries included, after this many seconds.
    #[arg(long, value_name = "SECS", allow_negative_numbers = true, default_value_t = 120.0, value_parser = positive_secs)]
    pub operation_timeout: f64,
}

/// What goes to stdout and stderr.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Result format on stdout.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// More detail on stderr: -v shows each AWS call, -vv the SDK's own logs. RUST_LOG overrides.
    #[arg(long, short = 'v', action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print nothing on stderr but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Pacing of mutating calls, for the tools that make them in numbers.
#[derive(Args, Debug, Clone, Default)]
pub struct PaceArgs {
    /// Pace mutating calls to at most this many per second per action (default: EC2's own
    /// request-rate buckets, e.g. 5 per second after a burst of 100 for DeregisterImage).
    #[arg(long, value_name = "PER_SEC", allow_negative_numbers = true, value_parser = positive_rate)]
    pub rate: Option<f64>,
}

/// Completions and man pages, generated from the same definitions as the parser.
#[derive(Args, Debug, Clone)]
pub struct GenerateArgs {
    /// Print a completion script for this shell (bash, zsh, fish, elvish, powershell) and exit.
    #[arg(long, value_name = "SHELL", exclusive = true)]
    pub completions: Option<clap_complete::Shell>,

    /// Print the man page (roff) and exit.
    #[arg(long, exclusive = true)]
    pub man: bool,
}

/// The groups every tool takes, each under its own heading in --help.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    #[command(flatten, next_help_heading = "AWS connection")]
    pub aws: AwsArgs,

    #[command(flatten, next_help_heading = "Output")]
    pub out: OutputArgs,

    #[command(flatten, next_help_heading = "Shell integration")]
    pub generate: GenerateArgs,
}

/// Parses a number of seconds that must be positive and finite.
pub fn positive_secs(s: &str) -> Result<f64, String> {
    positive(s).ok_or_else(|| format!("expected a positive number of seconds, got {s:?}"))
}

/// Parses a rate that must be positive and finite.
pub fn positive_rate(s: &str) -> Result<f64, String> {
    positive(s).ok_or_else(|| format!("expected a positive number of calls per second, got {s:?}"))
}

fn positive(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_seconds_say_what_they_are() {
        assert!(positive_rate("0").unwrap_err().contains("calls per second"));
        assert!(positive_secs("-1").unwrap_err().contains("seconds"));
        assert_eq!(positive_rate("2.5"), Ok(2.5));
    }
}
