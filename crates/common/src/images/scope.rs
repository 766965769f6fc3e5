//! Which AMIs a tool works on: those tagged `branch=BRANCH` and every `--tag KEY=VALUE` given.
//!
//! A branch name alone is not enough in an account where several applications bake the same
//! branch: `latest-ami main` would deploy another application's newer image, and `prune-amis
//! main 5` would count and delete across applications. `--tag app=web` narrows both to one
//! application's images.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use aws_sdk_ec2::types::Filter;
use clap::Args;

use crate::aws::error::Usage;

/// One `--tag KEY=VALUE`: a tag the AMIs must carry. Parsed by clap, so a malformed one is a
/// usage error (exit 2) before anything else happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFilter {
    pub key: String,
    pub value: String,
}

impl FromStr for TagFilter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let Some((key, value)) = s.split_once('=') else {
            return Err(format!("expected KEY=VALUE, got {s:?}"));
        };
        if key.is_empty() {
            return Err(format!("the tag's key is empty in {s:?}: expected KEY=VALUE"));
        }
        if key == "branch" {
            return Err("the branch is the BRANCH argument, not a --tag".into());
        }
        Ok(TagFilter { key: key.to_owned(), value: value.to_owned() })
    }
}

impl fmt::Display for TagFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// The `--tag` flag, flattened into the tools that list a branch's AMIs.
#[derive(Args, Debug, Clone, Default)]
pub struct TagArgs {
    /// Only AMIs that also carry this tag (repeatable; every one must match), for example
    /// --tag app=web when several applications bake the same branch.
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = clap::value_parser!(TagFilter))]
    pub tags: Vec<TagFilter>,
}

/// The AMIs a run is about: the branch, and the other tags they must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub branch: String,
    /// Sorted by key; each key once.
    pub tags: BTreeMap<String, String>,
}

impl Scope {
    /// Refuses a key given twice with different values: no AMI could match both.
    pub fn new(branch: &str, tags: &[TagFilter]) -> Result<Scope, Usage> {
        let mut map = BTreeMap::new();
        for t in tags {
            if let Some(other) = map.insert(t.key.clone(), t.value.clone()) {
                if other != t.value {
                    return Err(Usage(format!("--tag {}={other} and --tag {t} cannot both hold: give each key once", t.key)));
                }
            }
        }
        Ok(Scope { branch: branch.to_owned(), tags: map })
    }

    /// The DescribeImages filters: one `tag:KEY` filter per tag, the branch first.
    pub fn filters(&self) -> Vec<Filter> {
        std::iter::once(("branch", self.branch.as_str()))
            .chain(self.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map(|(k, v)| Filter::builder().name(format!("tag:{k}")).values(v).build())
            .collect()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "branch {}", self.branch)?;
        for (i, (k, v)) in self.tags.iter().enumerate() {
            write!(f, "{}{k}={v}", if i == 0 { " with " } else { ", " })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_forms() {
        assert_eq!("app=web".parse::<TagFilter>().unwrap(), TagFilter { key: "app".into(), value: "web".into() });
        assert_eq!("k=a=b".parse::<TagFilter>().unwrap().value, "a=b", "the first = splits");
        assert_eq!("k=".parse::<TagFilter>().unwrap().value, "", "an empty value is a value");
        for bad in ["app", "", "=web", "branch=main"] {
            assert!(bad.parse::<TagFilter>().is_err(), "{bad}");
        }
    }

    #[test]
    fn scope_refuses_one_key_with_two_values() {
        let t = |s: &str| s.parse::<TagFilter>().unwrap();
        assert!(Scope::new("main", &[t("app=a"), t("app=a")]).is_ok());
        assert!(Scope::new("main", &[t("app=a"), t("app=b")]).is_err());
    }

    #[test]
    fn scope_filters_name_every_tag() {
        let scope = Scope::new("main", &["team=x".parse().unwrap(), "app=web".parse().unwrap()]).unwrap();
        let names: Vec<_> = scope.filters().iter().map(|f| f.name().unwrap().to_owned()).collect();
        assert_eq!(names, ["tag:branch", "tag:app", "tag:team"]);
        assert_eq!(scope.to_string(), "branch main with app=web, team=x");
    }
}
