//! One build across several Regions: which copies belong together, and which build to deploy.
//!
//! A build is what one Packer run made: an AMI in the Region it baked in and a copy in each
//! of its `ami_regions`. Packer gives the copies the AMI's own name (`app-main-1700000000`),
//! and AMI names are unique per account and Region, so the name identifies the build: in a
//! Region, at most one of this account's AMIs carries it. EC2 also records where a copy came
//! from (SourceImageId, SourceImageRegion); where it does, the copies must agree, or the AMIs
//! only share a name and are not one build.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::images::ami::Ami;
use crate::images::verdict::deployable;
use serde::Serialize;

/// A build as found: its copies by Region.
#[derive(Debug, Clone)]
struct Candidate<'a> {
    name: &'a str,
    /// When the first of its AMIs was made (the original; copies come later).
    created: &'a str,
    copies: BTreeMap<&'a str, &'a Ami>,
}

/// Why a build newer than the one picked was passed over.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PassedOver {
    pub name: String,
    /// For each Region where it is not ready: `pending`, `missing`, `deprecated`, ...
    pub not_ready: BTreeMap<String, String>,
}

/// The outcome of [`pick`].
#[derive(Debug, PartialEq, Eq)]
pub enum Picked {
    /// This build (its name and its AMI in each Region, in the Regions' order); the newer
    /// builds passed over, newest first.
    Build { name: String, created: String, images: Vec<(String, String)>, passed_over: Vec<PassedOver> },
    /// No build is ready in every Region; the newest builds that are not, newest first.
    None { newest: Vec<PassedOver> },
}

/// Picks the newest build whose copies are all `available`, undeprecated and not failed by
/// verify-ami (with `verified_only`, passed by it), one in each of `regions`. `listed` holds
/// each Region's AMIs in scope (any state).
pub fn pick(regions: &[String], listed: &[(String, Vec<Ami>)], now: SystemTime, verified_only: bool) -> Picked {
    let mut builds: BTreeMap<&str, Candidate> = BTreeMap::new();
    for (region, amis) in listed {
        for ami in amis {
            let Some(name) = ami.name.as_deref().filter(|n| !n.is_empty()) else {
                tracing::warn!("{region}: {} has no name, so it cannot be matched to its copies; left out", ami.image_id);
                continue;
            };
            let build = builds.entry(name).or_insert(Candidate { name, created: &ami.creation_date, copies: BTreeMap::new() });
            if ami.creation_date.as_str() < build.created {
                build.created = &ami.creation_date;
            }
            build.copies.insert(region.as_str(), ami);
        }
    }
    let mut order: Vec<Candidate> = builds.into_values().collect();
    // Newest first; the name breaks ties, so every run makes the same choice.
    order.sort_by(|a, b| b.created.cmp(a.created).then_with(|| b.name.cmp(a.name)));

    let mut passed_over = Vec::new();
    for build in order {
        let mut not_ready = BTreeMap::new();
        for region in regions {
            let why = match build.copies.get(region.as_str()) {
                None => Some("missing".to_owned()),
                Some(ami) => deployable(ami, now, verified_only).err().map(|why| why.to_string()),
            };
            if let Some(why) = why {
                not_ready.insert(region.clone(), why);
            }
        }
        if let Some((region, why)) = disagreement(&build) {
            not_ready.insert(region, why);
        }
        if not_ready.is_empty() {
            let images = regions.iter().map(|r| (r.clone(), build.copies[r.as_str()].image_id.clone())).collect();
            return Picked::Build { name: build.name.to_owned(), created: build.created.to_owned(), images, passed_over };
        }
        // Only the newest few are worth naming when nothing is ready.
        if passed_over.len() < 5 {
            passed_over.push(PassedOver { name: build.name.to_owned(), not_ready });
        }
    }
    Picked::None { newest: passed_over }
}

/// A copy whose recorded source is not the build's AMI in the source's Region: the AMIs
/// share a name but are not copies of one another.
fn disagreement(build: &Candidate) -> Option<(String, String)> {
    for (region, ami) in &build.copies {
        let (Some(source), Some(source_region)) = (ami.source_image_id.as_deref(), ami.source_image_region.as_deref()) else {
            continue;
        };
        if source_region == *region {
            continue; // made in this Region (CreateImage), not copied
        }
        if let Some(original) = build.copies.get(source_region) {
            if original.image_id != source {
                return Some((
                    (*region).to_owned(),
                    format!("{} is a copy of {source} in {source_region}, not of {}", ami.image_id, original.image_id),
                ));
            }
        }
    }
    None
}

/// `us-east-1 pending, eu-west-1 missing`
pub fn describe(not_ready: &BTreeMap<String, String>) -> String {
    not_ready.iter().map(|(region, why)| format!("{why} in {region}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn ami(id: &str, name: &str, date: &str, state: &str) -> Ami {
        Ami { image_id: id.into(), name: Some(name.into()), creation_date: date.into(), state: state.into(), ..Ami::default() }
    }

    fn regions() -> Vec<String> {
        vec!["us-east-1".into(), "eu-west-1".into(), "ap-south-1".into()]
    }

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(NOW)
    }

    /// Builds b1 (older) and b2 (newer), copied to all three Regions, all available.
    fn two_builds() -> Vec<(String, Vec<Ami>)> {
        vec![
            (
                "us-east-1".into(),
                vec![
                    ami("ami-11", "b1", "2026-01-01T00:00:00.000Z", "available"),
                    ami("ami-21", "b2", "2026-02-01T00:00:00.000Z", "available"),
                ],
            ),
            (
                "eu-west-1".into(),
                vec![
                    ami("ami-12", "b1", "2026-01-01T00:05:00.000Z", "available"),
                    ami("ami-22", "b2", "2026-02-01T00:05:00.000Z", "available"),
                ],
            ),
            (
                "ap-south-1".into(),
                vec![
                    ami("ami-13", "b1", "2026-01-01T00:06:00.000Z", "available"),
                    ami("ami-23", "b2", "2026-02-01T00:06:00.000Z", "available"),
                ],
            ),
        ]
    }

    fn images(ids: &[(&str, &str)]) -> Vec<(String, String)> {
        ids.iter().map(|(r, id)| ((*r).to_owned(), (*id).to_owned())).collect()
    }

    #[test]
    fn the_newest_build_ready_everywhere() {
        let Picked::Build { name, images: got, passed_over, created } = pick(&regions(), &two_builds(), now(), false) else { panic!() };
        assert_eq!(name, "b2");
        assert_eq!(created, "2026-02-01T00:00:00.000Z", "the original's date, not a copy's");
        assert_eq!(got, images(&[("us-east-1", "ami-21"), ("eu-west-1", "ami-22"), ("ap-south-1", "ami-23")]));
        assert!(passed_over.is_empty());
    }

    #[test]
    fn a_copy_pending_in_one_region_falls_back_to_the_previous_build() {
        for (state, why) in [("pending", "pending"), ("failed", "failed"), ("disabled", "disabled")] {
            let mut listed = two_builds();
            listed[1].1[1].state = state.into();
            let Picked::Build { name, passed_over, .. } = pick(&regions(), &listed, now(), false) else { panic!() };
            assert_eq!(name, "b1", "{state}");
            assert_eq!(passed_over, vec![PassedOver { name: "b2".into(), not_ready: [("eu-west-1".to_owned(), why.to_owned())].into() }]);
        }
    }

    #[test]
    fn a_missing_or_deprecated_copy_is_not_ready() {
        let mut listed = two_builds();
        listed[2].1.pop();
        listed[0].1[1].deprecation_time = Some("2020-01-01T00:00:00.000Z".into());
        let Picked::Build { name, passed_over, .. } = pick(&regions(), &listed, now(), false) else { panic!() };
        assert_eq!(name, "b1");
        assert_eq!(describe(&passed_over[0].not_ready), "missing in ap-south-1, deprecated in us-east-1");
    }

    #[test]
    fn nothing_ready_everywhere() {
        let mut listed = two_builds();
        listed[1].1.clear();
        let Picked::None { newest } = pick(&regions(), &listed, now(), false) else { panic!() };
        let names: Vec<&str> = newest.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["b2", "b1"]);
        assert!(matches!(pick(&regions(), &[], now(), false), Picked::None { newest } if newest.is_empty()));
    }

    #[test]
    fn the_regions_asked_for_decide_not_the_regions_listed() {
        // A build copied to fewer Regions is complete for those Regions.
        let mut listed = two_builds();
        listed[2].1.pop();
        let two: Vec<String> = regions()[..2].to_vec();
        let Picked::Build { name, images: got, .. } = pick(&two, &listed[..2], now(), false) else { panic!() };
        assert_eq!(name, "b2");
        assert_eq!(got, images(&[("us-east-1", "ami-21"), ("eu-west-1", "ami-22")]));
    }

    #[test]
    fn copies_that_disagree_on_their_source_are_not_one_build() {
        let mut listed = two_builds();
        listed[1].1[1].source_image_id = Some("ami-99".into());
        listed[1].1[1].source_image_region = Some("us-east-1".into());
        let Picked::Build { name, passed_over, .. } = pick(&regions(), &listed, now(), false) else { panic!() };
        assert_eq!(name, "b1");
        assert!(passed_over[0].not_ready["eu-west-1"].contains("is a copy of ami-99 in us-east-1, not of ami-21"));
        // A copy whose source is the build's AMI agrees.
        let mut listed = two_builds();
        listed[1].1[1].source_image_id = Some("ami-21".into());
        listed[1].1[1].source_image_region = Some("us-east-1".into());
        assert!(matches!(pick(&regions(), &listed, now(), false), Picked::Build { name, .. } if name == "b2"));
    }

    #[test]
    fn unnamed_amis_are_left_out() {
        let mut listed = two_builds();
        for (_, amis) in &mut listed {
            amis[1].name = None;
        }
        assert!(matches!(pick(&regions(), &listed, now(), false), Picked::Build { name, .. } if name == "b1"));
    }

    #[test]
    fn a_build_failed_in_one_region_is_passed_over_and_verified_only_needs_every_copy_passed() {
        let mut listed = two_builds();
        listed[1].1[1].tags.insert(crate::images::verdict::TAG.into(), "failed".into());
        let Picked::Build { name, passed_over, .. } = pick(&regions(), &listed, now(), false) else { panic!() };
        assert_eq!(name, "b1");
        assert_eq!(passed_over[0].not_ready["eu-west-1"], "failed verification");
        assert!(matches!(pick(&regions(), &listed, now(), true), Picked::None { .. }), "nothing passed");
        for (_, amis) in &mut listed {
            amis[0].tags.insert(crate::images::verdict::TAG.into(), "passed".into());
        }
        assert!(matches!(pick(&regions(), &listed, now(), true), Picked::Build { name, .. } if name == "b1"));
    }
}
