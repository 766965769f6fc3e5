//! Typed IDs (AMIs, launch templates, subnets, target groups, roles), instance types and template
//! versions, parsed by clap into small newtypes: a malformed one is a usage error (exit 2) with
//! clap's message, before anything is sent.

use std::fmt;
use std::str::FromStr;

/// An AMI ID: `ami-` and 8 or 17 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AmiId(String);

impl FromStr for AmiId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let ok = s.strip_prefix("ami-").is_some_and(|hex| {
            (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        });
        if ok {
            Ok(AmiId(s.to_owned()))
        } else {
            Err("malformed AMI ID: expected ami- followed by 8 or 17 lowercase hex digits".into())
        }
    }
}

/// A launch template ID: `lt-` and up to 17 hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchTemplateId(String);

impl FromStr for LaunchTemplateId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let ok = s.strip_prefix("lt-").is_some_and(|hex| !hex.is_empty() && hex.len() <= 17 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        if ok {
            Ok(LaunchTemplateId(s.to_owned()))
        } else {
            Err("malformed launch template ID: expected lt- followed by hex digits".into())
        }
    }
}

/// A subnet ID: `subnet-` and 8 or 17 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetId(String);

impl FromStr for SubnetId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let ok = s.strip_prefix("subnet-").is_some_and(|hex| {
            (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        });
        if ok {
            Ok(SubnetId(s.to_owned()))
        } else {
            Err("malformed subnet ID: expected subnet- followed by 8 or 17 lowercase hex digits".into())
        }
    }
}

/// An EC2 instance type as AWS spells it: a family and a size, `t3.micro`, `m7i-flex.large`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceType(String);

impl FromStr for InstanceType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let part = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        match s.split_once('.') {
            Some((family, size)) if s.len() <= 64 && part(family) && part(size) => Ok(InstanceType(s.to_owned())),
            _ => Err("malformed instance type: expected a family and a size, such as t3.micro".into()),
        }
    }
}

/// An Elastic Load Balancing target group's ARN:
/// `arn:PARTITION:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupArn(String);

impl FromStr for TargetGroupArn {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let ok = match parts.as_slice() {
            ["arn", partition, "elasticloadbalancing", region, account, resource] => {
                partition.starts_with("aws")
                    && !region.is_empty()
                    && account.len() == 12
                    && account.bytes().all(|b| b.is_ascii_digit())
                    && resource.strip_prefix("targetgroup/").and_then(|r| r.split_once('/')).is_some_and(|(name, id)| {
                        (1..=32).contains(&name.len())
                            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                            && !id.is_empty()
                            && id.bytes().all(|b| b.is_ascii_hexdigit())
                    })
            }
            _ => false,
        };
        if ok {
            Ok(TargetGroupArn(s.to_owned()))
        } else {
            Err("malformed target group ARN: expected arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID".into())
        }
    }
}

/// An IAM role's ARN, `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`, as STS's AssumeRole takes
/// it (20 to 2048 characters; a name of letters, digits and `+=,.@_-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn(String);

impl RoleArn {
    /// The account the role is in.
    pub fn account(&self) -> &str {
        self.0.split(':').nth(4).unwrap_or_default()
    }
}

impl FromStr for RoleArn {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let name_char = |b: u8| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b);
        let ok = (20..=2048).contains(&s.len())
            && match parts.as_slice() {
                ["arn", partition, "iam", "", account, resource] => {
                    partition.starts_with("aws")
                        && account.len() == 12
                        && account.bytes().all(|b| b.is_ascii_digit())
                        && resource.strip_prefix("role/").is_some_and(|r| !r.is_empty() && !r.ends_with('/') && r.bytes().all(name_char))
                }
                _ => false,
            };
        if ok {
            Ok(RoleArn(s.to_owned()))
        } else {
            Err("malformed role ARN: expected arn:aws:iam::ACCOUNT:role/NAME (a 12-digit account)".into())
        }
    }
}

/// An external ID for AssumeRole: 2 to 1224 characters of letters, digits and `+=,.@:/-_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalId(String);

impl FromStr for ExternalId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if (2..=1224).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@:/-_".contains(&b)) {
            Ok(ExternalId(s.to_owned()))
        } else {
            Err("malformed external ID: expected 2 to 1224 letters, digits or +=,.@:/-_".into())
        }
    }
}

/// A Region's name, such as `us-east-1` (its form only: whether EC2 knows it is asked later).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Region(String);

impl FromStr for Region {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        crate::deploy::regions::check_region_name(s).map(|()| Region(s.to_owned()))
    }
}

/// An Auto Scaling group's name: 1 to 255 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupName(String);

impl FromStr for GroupName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > 255 || s.chars().any(char::is_control) {
            Err("the Auto Scaling group name must be 1 to 255 printable characters".into())
        } else {
            Ok(GroupName(s.to_owned()))
        }
    }
}

/// A launch template version as AWS takes it: a number (1 or more), `$Latest` or `$Default`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Number(i64),
    Latest,
    Default,
}

impl FromStr for Version {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "$Latest" => Ok(Version::Latest),
            "$Default" => Ok(Version::Default),
            n => match n.parse::<i64>() {
                Ok(n) if n >= 1 => Ok(Version::Number(n)),
                _ => Err("expected a version number (1 or more), $Latest or $Default".into()),
            },
        }
    }
}

macro_rules! text_newtype {
    ($($t:ty),*) => {$(
        impl $t {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        /// In JSON, as AWS spells it.
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, to: S) -> Result<S::Ok, S::Error> {
                to.serialize_str(&self.0)
            }
        }
    )*};
}

text_newtype!(AmiId, LaunchTemplateId, SubnetId, InstanceType, TargetGroupArn, RoleArn, ExternalId, Region, GroupName);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Number(n) => write!(f, "{n}"),
            Version::Latest => f.write_str("$Latest"),
            Version::Default => f.write_str("$Default"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_and_external_ids() {
        let role: RoleArn = "arn:aws:iam::222233334444:role/deploy/workload".parse().unwrap();
        assert_eq!(role.account(), "222233334444");
        assert!("arn:aws-us-gov:iam::222233334444:role/deploy".parse::<RoleArn>().is_ok());
        for bad in [
            "",
            "deploy",
            "arn:aws:iam::22223333444:role/deploy",
            "arn:aws:iam::222233334444:user/deploy",
            "arn:aws:iam:us-east-1:222233334444:role/deploy",
            "arn:aws:sts::222233334444:role/deploy",
            "arn:aws:iam::222233334444:role/",
            "arn:aws:iam::222233334444:role/de ploy",
        ] {
            assert!(bad.parse::<RoleArn>().is_err(), "{bad}");
        }
        assert!("build-account:42".parse::<ExternalId>().is_ok());
        for bad in ["x", "has space", &"x".repeat(1225)] {
            assert!(bad.parse::<ExternalId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ami_ids() {
        assert!("ami-0123abcd".parse::<AmiId>().is_ok());
        assert!("ami-0123456789abcdef0".parse::<AmiId>().is_ok());
        for bad in ["", "ami-", "ami-xyz12345", "AMI-0123abcd", "ami-0123ABCD", "snap-0123abcd", "ami-0123abc"] {
            assert!(bad.parse::<AmiId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn template_ids_and_versions() {
        assert!("lt-0123456789abcdef0".parse::<LaunchTemplateId>().is_ok());
        for bad in ["lt-", "0123", "lt-xyz", "lt-0123456789abcdef01"] {
            assert!(bad.parse::<LaunchTemplateId>().is_err(), "{bad}");
        }
        assert_eq!("$Latest".parse::<Version>(), Ok(Version::Latest));
        assert_eq!("3".parse::<Version>(), Ok(Version::Number(3)));
        assert_eq!(Version::Number(3).to_string(), "3");
        for bad in ["0", "-1", "latest", "1.5", ""] {
            assert!(bad.parse::<Version>().is_err(), "{bad}");
        }
    }

    #[test]
    fn subnets_instance_types_and_target_groups() {
        assert!("subnet-0123abcd".parse::<SubnetId>().is_ok());
        assert!("subnet-0123456789abcdef0".parse::<SubnetId>().is_ok());
        for bad in ["subnet-", "subnet-xyz", "sg-0123abcd", "subnet-0123ABCD"] {
            assert!(bad.parse::<SubnetId>().is_err(), "{bad}");
        }
        for good in ["t3.micro", "m7i-flex.large", "u-6tb1.metal", "c5.24xlarge"] {
            assert!(good.parse::<InstanceType>().is_ok(), "{good}");
        }
        for bad in ["t3", ".micro", "t3.", "T3.micro", "t3 .micro", "t3.micro.x"] {
            assert!(bad.parse::<InstanceType>().is_err(), "{bad}");
        }
        let arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef";
        assert!(arn.parse::<TargetGroupArn>().is_ok());
        assert!("arn:aws-us-gov:elasticloadbalancing:us-gov-west-1:123456789012:targetgroup/a-b/50dc6c495c0c9188"
            .parse::<TargetGroupArn>()
            .is_ok());
        for bad in [
            "web",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/0123",
            "arn:aws:elasticloadbalancing:us-east-1:1234:targetgroup/web/01",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/",
        ] {
            assert!(bad.parse::<TargetGroupArn>().is_err(), "{bad}");
        }
    }
}
