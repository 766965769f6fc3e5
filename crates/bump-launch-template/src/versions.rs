//! The template's versions: listing them, and which of them a bump keeps and deletes.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use aws_sdk_ec2::types::InstanceRequirementsRequest;
use common::aws::error::aws_error;
use common::aws::ids::Version as VersionArg;

/// A version as the plan sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub number: i64,
    pub is_default: bool,
}

/// Which versions stay, each with why (the newest `keep`, the default, `source`, and those in
/// `pinned`), and which go, oldest first.
pub fn plan_versions(
    versions: &[Version],
    keep: usize,
    source: i64,
    pinned: &BTreeMap<i64, Vec<String>>,
) -> (BTreeMap<i64, String>, Vec<i64>) {
    let numbers: BTreeSet<i64> = versions.iter().map(|v| v.number).collect();
    let newest: BTreeSet<i64> = numbers.iter().rev().take(keep).copied().collect();
    let mut kept = BTreeMap::new();
    let mut doomed = Vec::new();
    for n in numbers {
        let mut why: Vec<String> = Vec::new();
        if newest.contains(&n) {
            why.push(format!("among the newest {keep}"));
        }
        if versions.iter().any(|v| v.number == n && v.is_default) {
            why.push("the default version".into());
        }
        if n == source {
            why.push("the source of new versions".into());
        }
        why.extend(pinned.get(&n).into_iter().flatten().cloned());
        if why.is_empty() {
            doomed.push(n);
        } else {
            kept.insert(n, why.join("; "));
        }
    }
    (kept, doomed)
}

/// Resolves the source version as given (number, `$Latest`, `$Default`) to a number, knowing
/// the versions as they stood after `new` was created from it.
pub fn resolve_source(source: VersionArg, versions: &[Version], new: i64) -> Option<i64> {
    match source {
        VersionArg::Latest => versions.iter().map(|v| v.number).filter(|n| *n < new).max(),
        VersionArg::Default => versions.iter().find(|v| v.is_default).map(|v| v.number),
        VersionArg::Number(n) => Some(n),
    }
}

/// A template's versions as listed before the bump, with the template's name and what each
/// version launches on.
#[derive(Debug, Default)]
pub struct Listed {
    /// Oldest first.
    pub versions: Vec<Version>,
    pub name: Option<String>,
    /// Version number -> the AMI it launches (when its ImageId is an AMI ID).
    pub images: BTreeMap<i64, String>,
    /// Version number -> its `InstanceType`, or the instance requirements it chooses types by.
    pub instance_types: BTreeMap<i64, (Option<String>, Option<InstanceRequirementsRequest>)>,
}

/// Every version of the template, every page, oldest first.
pub async fn list_versions(ec2: &aws_sdk_ec2::Client, lt: &str) -> Result<Listed> {
    let mut pages = ec2.describe_launch_template_versions().launch_template_id(lt).max_results(200).into_paginator().send();
    let mut listed = Listed::default();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error(format!("listing the versions of launch template {lt}"), e))?;
        for v in page.launch_template_versions() {
            listed.name = listed.name.take().or_else(|| v.launch_template_name().map(str::to_owned));
            let Some(number) = v.version_number() else { continue };
            listed.versions.push(Version { number, is_default: v.default_version().unwrap_or(false) });
            let data = v.launch_template_data();
            if let Some(image) = data.and_then(|d| d.image_id()).filter(|i| i.starts_with("ami-")) {
                listed.images.insert(number, image.to_owned());
            }
            let named = data.and_then(|d| d.instance_type()).map(|t| t.as_str().to_owned());
            let by_attributes = data.and_then(|d| d.instance_requirements()).map(crate::requirements::from_template);
            listed.instance_types.insert(number, (named, by_attributes));
        }
    }
    listed.versions.sort_by_key(|v| v.number);
    Ok(listed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(numbers: &[i64], default: i64) -> Vec<Version> {
        numbers.iter().map(|&number| Version { number, is_default: number == default }).collect()
    }

    fn versions_to_delete(v: &[Version], keep: usize, source: i64) -> Vec<i64> {
        plan_versions(v, keep, source, &BTreeMap::new()).1
    }

    #[test]
    fn keeps_newest_plus_default_and_source_after_gaps() {
        // Versions 1..=10 with gaps, default 1, source 1, keep 3.
        let v = versions(&[1, 2, 3, 5, 6, 9, 10, 12], 1);
        assert_eq!(versions_to_delete(&v, 3, 1), vec![2, 3, 5, 6]);
    }

    #[test]
    fn source_and_default_are_kept_wherever_they_fall() {
        let v = versions(&[1, 2, 3, 4, 5, 6], 2);
        assert_eq!(versions_to_delete(&v, 2, 3), vec![1, 4]);
    }

    #[test]
    fn nothing_to_delete_when_few_versions() {
        assert!(versions_to_delete(&versions(&[1, 2], 1), 2, 1).is_empty());
    }

    #[test]
    fn pinned_versions_are_kept_with_every_reason() {
        let v = versions(&[1, 2, 3, 4, 5, 6], 1);
        let pinned = BTreeMap::from([
            (2, vec!["group web launches it".to_owned()]),
            (3, vec!["group a launches it".to_owned(), "instance refresh r of group a (InProgress) deploys it".to_owned()]),
            (6, vec!["group b launches it".to_owned()]),
        ]);
        let (kept, doomed) = plan_versions(&v, 2, 1, &pinned);
        assert_eq!(doomed, vec![4]);
        assert_eq!(kept[&1], "the default version; the source of new versions");
        assert_eq!(kept[&2], "group web launches it");
        assert_eq!(kept[&3], "group a launches it; instance refresh r of group a (InProgress) deploys it");
        assert_eq!(kept[&6], "among the newest 2; group b launches it");
    }

    #[test]
    fn resolves_symbolic_sources() {
        let v = versions(&[1, 4, 7, 8], 4);
        assert_eq!(resolve_source(VersionArg::Latest, &v, 8), Some(7));
        assert_eq!(resolve_source(VersionArg::Default, &v, 8), Some(4));
        assert_eq!(resolve_source(VersionArg::Number(1), &v, 8), Some(1));
    }
}
