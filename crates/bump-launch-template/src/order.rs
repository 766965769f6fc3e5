//! Never an older build over a newer one: a template that runs a build of a branch (its latest
//! or default version, the last deploy) is not moved to an AMI of an older build of the same
//! branch unless `--allow-older` says the rollback is meant. Two builds that finish out of
//! order then leave the newer one deployed.
//!
//! Builds are ordered by Packer's `timestamp` tag (the build's start) where both AMIs carry
//! one, else by their creation dates. AMIs of other branches, or untagged ones (a base image),
//! are not compared.

use anyhow::{bail, Result};
use common::images::ami::describe_one;
use common::Ami;

use crate::versions::Listed;

/// Where a build falls in time: the `timestamp` tag, or the creation date.
fn older(a: &Ami, b: &Ami) -> Option<String> {
    let stamp = |x: &Ami| x.tags.get("timestamp").and_then(|t| t.parse::<u64>().ok());
    match (stamp(a), stamp(b)) {
        (Some(ta), Some(tb)) => (ta < tb).then(|| format!("timestamp {ta} before {tb}")),
        _ => (a.creation_date < b.creation_date).then(|| format!("made {} before {}", a.creation_date, b.creation_date)),
    }
}

/// The deployed AMIs `new` may not be older than: those the template's latest and default
/// versions run, other than `new`, with the version and which one it is.
fn deployed(listed: &Listed, new: &str) -> Vec<(String, i64, &'static str)> {
    let latest = listed.versions.iter().map(|v| v.number).max();
    let default = listed.versions.iter().find(|v| v.is_default).map(|v| v.number);
    let mut out: Vec<(String, i64, &'static str)> = Vec::new();
    for (n, which) in [(latest, "latest"), (default, "default")] {
        let Some(n) = n else { continue };
        let Some(image) = listed.images.get(&n).filter(|i| *i != new) else { continue };
        if !out.iter().any(|(i, ..)| i == image) {
            out.push((image.clone(), n, which));
        }
    }
    out
}

/// Refuses `new` when it is an older build of its branch than an AMI the template's latest
/// or default version runs (one DescribeImages per such AMI, none when they are `new`).
pub async fn check(ec2: &aws_sdk_ec2::Client, new: &Ami, listed: &Listed) -> Result<()> {
    let Some(branch) = new.tags.get("branch") else { return Ok(()) };
    let runs = deployed(listed, &new.image_id);
    let described = futures::future::try_join_all(runs.iter().map(|(image, ..)| describe_one(ec2, image))).await?;
    for ((image, n, which), ami) in runs.iter().zip(described) {
        let Some(ami) = ami.filter(|a| a.tags.get("branch") == Some(branch)) else { continue };
        if let Some(why) = older(new, &ami) {
            bail!(
                "{} is an older build of branch {branch} than {image}, which version {n} ({which}) runs ({why}): --allow-older rolls back on purpose; no version created",
                new.image_id
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::versions::Version;

    fn ami(id: &str, stamp: Option<&str>, created: &str) -> Ami {
        let mut a = Ami { image_id: id.into(), creation_date: created.into(), ..Ami::default() };
        if let Some(s) = stamp {
            a.tags.insert("timestamp".into(), s.into());
        }
        a
    }

    #[test]
    fn builds_are_ordered_by_timestamp_else_creation_date() {
        let (a, b) = (ami("ami-a", Some("100"), "2026-01-02T00:00:00.000Z"), ami("ami-b", Some("200"), "2026-01-01T00:00:00.000Z"));
        assert_eq!(older(&a, &b).as_deref(), Some("timestamp 100 before 200"), "the build's start, not when its AMI was made");
        assert_eq!(older(&b, &a), None);
        let (c, d) = (ami("ami-c", None, "2026-01-01T00:00:00.000Z"), ami("ami-d", Some("5"), "2026-01-03T00:00:00.000Z"));
        assert!(older(&c, &d).unwrap().starts_with("made 2026-01-01"));
        assert_eq!(older(&a, &a), None, "the same build is not older than itself");
    }

    #[test]
    fn the_latest_and_default_versions_are_the_deploy() {
        let listed = Listed {
            versions: vec![
                Version { number: 1, is_default: true },
                Version { number: 2, is_default: false },
                Version { number: 3, is_default: false },
            ],
            images: [(1, "ami-1".to_owned()), (2, "ami-2".to_owned()), (3, "ami-3".to_owned())].into(),
            ..Listed::default()
        };
        assert_eq!(deployed(&listed, "ami-9"), [("ami-3".to_owned(), 3, "latest"), ("ami-1".to_owned(), 1, "default")]);
        assert_eq!(deployed(&listed, "ami-3"), [("ami-1".to_owned(), 1, "default")]);
    }
}
