//! A branch's AMIs: the images Packer baked and tagged `branch=<name>`, owned by this account.

use anyhow::Result;
use aws_sdk_ec2::types::{Filter, Image};
use serde::Serialize;

use crate::error::aws_error;

/// One AMI, with what the tools need to pick, keep or delete it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Ami {
    pub image_id: String,
    pub name: Option<String>,
    /// As EC2 gives it: ISO 8601 UTC with milliseconds, so text order is time order.
    pub creation_date: String,
    pub state: String,
    /// The EBS snapshots in the AMI's block device mappings.
    pub snapshot_ids: Vec<String>,
}

impl Ami {
    pub fn from_image(image: &Image) -> Self {
        Ami {
            image_id: image.image_id().unwrap_or_default().to_owned(),
            name: image.name().map(str::to_owned),
            creation_date: image.creation_date().unwrap_or_default().to_owned(),
            state: image.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            snapshot_ids: image
                .block_device_mappings()
                .iter()
                .filter_map(|m| m.ebs().and_then(|ebs| ebs.snapshot_id()))
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// Sorts oldest first by CreationDate, ties broken by ImageId, so that every run over the same
/// images makes the same choice (EC2 returns them in no particular order).
pub fn sort_oldest_first(amis: &mut [Ami]) {
    amis.sort_by(|a, b| {
        a.creation_date
            .cmp(&b.creation_date)
            .then_with(|| a.image_id.cmp(&b.image_id))
    });
}

/// The branch's AMIs owned by this account, every page, oldest first. With `available_only`,
/// only images in state `available` (ready to launch).
pub async fn list_branch_amis(
    ec2: &aws_sdk_ec2::Client,
    branch: &str,
    available_only: bool,
) -> Result<Vec<Ami>> {
    let mut request = ec2
        .describe_images()
        .owners("self")
        .filters(Filter::builder().name("tag:branch").values(branch).build())
        .max_results(1000);
    if available_only {
        request = request.filters(Filter::builder().name("state").values("available").build());
    }
    let mut pages = request.into_paginator().send();
    let mut amis = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error(format!("listing the AMIs of branch {branch:?}"), e))?;
        amis.extend(page.images().iter().map(Ami::from_image));
    }
    sort_oldest_first(&mut amis);
    Ok(amis)
}

/// Checks the form of an AMI ID before anything is sent: `ami-` and 8 or 17 hex digits.
pub fn validate_ami_id(id: &str) -> Result<()> {
    let ok = id
        .strip_prefix("ami-")
        .is_some_and(|hex| (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    if ok {
        Ok(())
    } else {
        anyhow::bail!("malformed AMI ID {id:?}: expected ami- followed by 8 or 17 lowercase hex digits")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ami(id: &str, date: &str) -> Ami {
        Ami {
            image_id: id.into(),
            name: None,
            creation_date: date.into(),
            state: "available".into(),
            snapshot_ids: vec![],
        }
    }

    #[test]
    fn sorts_by_date_then_id() {
        let mut amis = vec![
            ami("ami-3", "2024-01-02T00:00:00.000Z"),
            ami("ami-2", "2024-01-01T00:00:00.000Z"),
            ami("ami-1", "2024-01-02T00:00:00.000Z"),
        ];
        sort_oldest_first(&mut amis);
        let ids: Vec<_> = amis.iter().map(|a| a.image_id.as_str()).collect();
        assert_eq!(ids, ["ami-2", "ami-1", "ami-3"]);
    }

    #[test]
    fn ami_id_form() {
        assert!(validate_ami_id("ami-0123abcd").is_ok());
        assert!(validate_ami_id("ami-0123456789abcdef0").is_ok());
        for bad in ["", "ami-", "ami-xyz12345", "AMI-0123abcd", "ami-0123ABCD", "snap-0123abcd", "ami-0123abc"] {
            assert!(validate_ami_id(bad).is_err(), "{bad}");
        }
    }
}
