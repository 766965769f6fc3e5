//! A branch's AMIs: the images Packer baked and tagged `branch=<name>` (and any `--tag`s),
//! owned by this account.
//!
//! Listings ask for disabled and deprecated images too (`IncludeDisabled`,
//! `IncludeDeprecated`): EC2 leaves a disabled AMI out of DescribeImages otherwise, and its
//! snapshots would never be pruned. Whether an image may be launched or deleted is then
//! decided from its fields: state, deprecation time, deregistration protection, `Public`.

use std::time::SystemTime;

use anyhow::Result;
use aws_sdk_ec2::types::{Filter, Image, ImageState};
use aws_smithy_types::date_time::{DateTime, Format};
use serde::Serialize;

use crate::aws::error::{aws_error, Code};
use crate::images::scope::Scope;

/// One AMI, with what the tools need to pick, keep or delete it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Ami {
    pub image_id: String,
    pub name: Option<String>,
    /// As EC2 gives it: ISO 8601 UTC with milliseconds, so text order is time order.
    pub creation_date: String,
    /// EC2's own enum, so that every match on it is checked when AWS adds a state.
    #[serde(serialize_with = "state_text")]
    pub state: ImageState,
    /// The EBS snapshots in the AMI's block device mappings, with their sizes (in JSON as
    /// `snapshot_ids` and their total, `size_gib`).
    #[serde(flatten)]
    pub snapshots: Snapshots,
    /// Launch permissions include everyone (`Public` comes with the listing).
    pub public: bool,
    /// EC2's `DeregistrationProtection` as given (`enabled-with-cooldown`, ...), when set.
    pub deregistration_protection: Option<String>,
    /// When the AMI is (or was) deprecated, as EC2 gives it.
    pub deprecation_time: Option<String>,
    /// The last launch from the AMI, as EC2 records it (up to about a day late).
    pub last_launched_time: Option<String>,
    /// The AMI it was made from (CreateImage: the instance's AMI; CopyImage: the AMI copied)
    /// and that AMI's Region, as EC2 reports them (not for every AMI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_image_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_image_region: Option<String>,
    /// What the AMI runs on, as EC2 gives them: `Architecture` (`x86_64`, `arm64`, ...),
    /// `BootMode` (`legacy-bios`, `uefi`, `uefi-preferred`; none: the instance type's
    /// default) and `EnaSupport`. An instance type must fit all three.
    #[serde(skip)]
    pub architecture: Option<String>,
    #[serde(skip)]
    pub boot_mode: Option<String>,
    #[serde(skip)]
    pub ena_support: Option<bool>,
    /// The AMI's tags (only its owner sees them).
    #[serde(skip)]
    pub tags: std::collections::BTreeMap<String, String>,
}

/// An AMI as a test or a placeholder starts it: `available`, everything else empty.
impl Default for Ami {
    fn default() -> Self {
        Ami {
            image_id: String::new(),
            name: None,
            creation_date: String::new(),
            state: ImageState::Available,
            snapshots: Snapshots::default(),
            public: false,
            deregistration_protection: None,
            deprecation_time: None,
            last_launched_time: None,
            source_image_id: None,
            source_image_region: None,
            architecture: None,
            boot_mode: None,
            ena_support: None,
            tags: std::collections::BTreeMap::new(),
        }
    }
}

/// One EBS snapshot of an AMI and its volume size (GiB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub id: String,
    pub size_gib: i64,
}

/// An AMI's snapshots, in block-device order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshots(pub Vec<Snapshot>);

impl Snapshots {
    pub fn ids(&self) -> Vec<String> {
        self.0.iter().map(|s| s.id.clone()).collect()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Their volume sizes added up (GiB): what deleting them saves, at most (snapshots are
    /// stored incrementally).
    pub fn total_gib(&self) -> i64 {
        self.0.iter().map(|s| s.size_gib).sum()
    }

    /// The size (GiB) of those among `ids`.
    pub fn size_of(&self, ids: &[String]) -> i64 {
        self.0.iter().filter(|s| ids.contains(&s.id)).map(|s| s.size_gib).sum()
    }
}

impl FromIterator<Snapshot> for Snapshots {
    fn from_iter<I: IntoIterator<Item = Snapshot>>(iter: I) -> Self {
        Snapshots(iter.into_iter().collect())
    }
}

/// As the reports have always given them: `snapshot_ids` and `size_gib`, the total.
impl Serialize for Snapshots {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("snapshot_ids", &self.ids())?;
        map.serialize_entry("size_gib", &self.total_gib())?;
        map.end()
    }
}

/// The state as EC2 spells it, in the JSON reports.
fn state_text<S: serde::Serializer>(state: &ImageState, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(state.as_str())
}

impl Ami {
    pub fn from_image(image: &Image) -> Self {
        let snapshots = image
            .block_device_mappings()
            .iter()
            .filter_map(|m| m.ebs())
            .filter_map(|ebs| Some(Snapshot { id: ebs.snapshot_id()?.to_owned(), size_gib: i64::from(ebs.volume_size().unwrap_or(0)) }))
            .collect();
        Ami {
            image_id: image.image_id().unwrap_or_default().to_owned(),
            name: image.name().map(str::to_owned),
            creation_date: image.creation_date().unwrap_or_default().to_owned(),
            state: image.state().cloned().unwrap_or_else(|| ImageState::from("")),
            snapshots,
            public: image.public().unwrap_or(false),
            deregistration_protection: image.deregistration_protection().map(str::to_owned),
            deprecation_time: image.deprecation_time().map(str::to_owned),
            last_launched_time: image.last_launched_time().map(str::to_owned),
            source_image_id: image.source_image_id().map(str::to_owned),
            source_image_region: image.source_image_region().map(str::to_owned),
            architecture: image.architecture().map(|a| a.as_str().to_owned()),
            boot_mode: image.boot_mode().map(|b| b.as_str().to_owned()),
            ena_support: image.ena_support(),
            tags: image.tags().iter().filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned()))).collect(),
        }
    }

    /// True while EC2 refuses to deregister the AMI: protection enabled, or turned off less
    /// than its cooldown ago (EC2 then reports it as "disabled-until ...").
    pub fn is_protected(&self) -> bool {
        self.deregistration_protection.as_deref().is_some_and(|p| p != "disabled" && !p.is_empty())
    }

    /// When the AMI was made, or `None` if EC2's CreationDate does not read.
    pub fn created(&self) -> Option<SystemTime> {
        parse_time(&self.creation_date)
    }

    /// True when the AMI's deprecation time has come (a deprecated AMI still launches by ID,
    /// but it is not one to deploy). An unreadable time counts as deprecated.
    pub fn is_deprecated_at(&self, now: SystemTime) -> bool {
        self.deprecation_time.as_deref().is_some_and(|t| parse_time(t).is_none_or(|at| at <= now))
    }
}

/// A time as EC2 gives it (ISO 8601), or `None` if it does not read as one.
pub fn parse_time(text: &str) -> Option<SystemTime> {
    DateTime::from_str(text, Format::DateTime).ok().and_then(|t| SystemTime::try_from(t).ok())
}

/// Sorts oldest first by CreationDate, ties broken by ImageId, so that every run over the same
/// images makes the same choice (EC2 returns them in no particular order).
pub fn sort_oldest_first(amis: &mut [Ami]) {
    amis.sort_by(|a, b| a.creation_date.cmp(&b.creation_date).then_with(|| a.image_id.cmp(&b.image_id)));
}

/// The AMIs in scope owned by this account, disabled and deprecated ones included, every
/// page, oldest first. With `available_only`, only images in state `available` (which leaves
/// out disabled ones: their state is `disabled`).
pub async fn list_amis(ec2: &aws_sdk_ec2::Client, scope: &Scope, available_only: bool) -> Result<Vec<Ami>> {
    let mut request = ec2
        .describe_images()
        .owners("self")
        .set_filters(Some(scope.filters()))
        .include_disabled(true)
        .include_deprecated(true)
        .max_results(1000);
    if available_only {
        request = request.filters(Filter::builder().name("state").values("available").build());
    }
    let mut pages = request.into_paginator().send();
    let mut amis = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error(format!("listing the AMIs of {scope}"), e))?;
        amis.extend(page.images().iter().map(Ami::from_image));
    }
    sort_oldest_first(&mut amis);
    Ok(amis)
}

/// The AMIs with these IDs that EC2 still knows (disabled and deprecated ones too), by ID: by
/// the `image-id` filter, 200 a call, so that an ID EC2 no longer knows (a pruned AMI an old
/// launch template version still names) is left out instead of failing the call.
pub async fn describe_many(ec2: &aws_sdk_ec2::Client, ids: &[String]) -> Result<std::collections::HashMap<String, Ami>> {
    let mut found = std::collections::HashMap::new();
    for batch in ids.chunks(200) {
        let filter = Filter::builder().name("image-id").set_values(Some(batch.to_vec())).build();
        let mut pages = ec2.describe_images().filters(filter).include_disabled(true).include_deprecated(true).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error(format!("describing {} AMIs", batch.len()), e))?;
            found.extend(page.images().iter().map(Ami::from_image).map(|a| (a.image_id.clone(), a)));
        }
    }
    Ok(found)
}

/// The AMI with this ID, or `None` if EC2 no longer knows it.
pub async fn describe_one(ec2: &aws_sdk_ec2::Client, ami_id: &str) -> Result<Option<Ami>> {
    // A disabled AMI is left out of DescribeImages, even asked for by ID, unless included.
    match ec2.describe_images().image_ids(ami_id).include_disabled(true).include_deprecated(true).send().await {
        Ok(out) => Ok(out.images().iter().map(Ami::from_image).find(|a| a.image_id == ami_id && a.state != ImageState::Deregistered)),
        Err(e) if Code::of(&e) == Some(Code::AmiNotFound) => Ok(None),
        Err(e) => Err(aws_error(format!("describing {ami_id}"), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ami(id: &str, date: &str) -> Ami {
        Ami { image_id: id.into(), name: None, creation_date: date.into(), ..Ami::default() }
    }

    #[test]
    fn protection_and_deprecation() {
        let mut a = ami("ami-1", "2024-01-01T00:00:00.000Z");
        assert!(!a.is_protected());
        for (value, protected) in [
            ("disabled", false),
            ("enabled-with-cooldown", true),
            ("enabled-without-cooldown", true),
            ("disabled-until 2024-05-01T00:00:00Z", true),
        ] {
            a.deregistration_protection = Some(value.into());
            assert_eq!(a.is_protected(), protected, "{value}");
        }
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000); // 2023-11-14
        assert!(!a.is_deprecated_at(now));
        a.deprecation_time = Some("2023-01-01T00:00:00.000Z".into());
        assert!(a.is_deprecated_at(now));
        a.deprecation_time = Some("2030-01-01T00:00:00Z".into());
        assert!(!a.is_deprecated_at(now), "deprecation set for later");
        a.deprecation_time = Some("soon".into());
        assert!(a.is_deprecated_at(now), "unreadable counts as deprecated");
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
}
