//! Where a rollback goes: the last good version of a launch template below the one a group
//! names. `rollback` starts a refresh to it; `bump-launch-template` never deletes it.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_ec2::types::ImageState;

use crate::images::ami::Ami;
use crate::images::verdict::Verdict;

/// The version a group on version `current` goes back to, with its AMI: the newest numbered
/// version below `current` whose AMI verify-ami passed and can still launch (`available`; a
/// deprecated AMI still launches by ID). `images` is each version's AMI; `amis`, the AMIs EC2
/// knows.
pub fn last_good(images: &BTreeMap<i64, String>, amis: &HashMap<String, Ami>, current: i64) -> Option<(i64, String)> {
    images.range(..current).rev().find_map(|(&n, id)| {
        let ami = amis.get(id)?;
        (ami.state == ImageState::Available && Verdict::of(ami).passed()).then(|| (n, id.clone()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ami(id: &str, state: ImageState, verdict: Option<&str>) -> (String, Ami) {
        let mut a = Ami { image_id: id.into(), state, ..Ami::default() };
        if let Some(v) = verdict {
            a.tags.insert("verification".into(), v.into());
        }
        (id.into(), a)
    }

    #[test]
    fn the_newest_passed_and_launchable_version_below_the_groups() {
        let images: BTreeMap<i64, String> =
            [(1, "ami-1"), (2, "ami-2"), (3, "ami-3"), (4, "ami-4"), (5, "ami-5")].iter().map(|(n, a)| (*n, (*a).to_owned())).collect();
        let amis: HashMap<String, Ami> = [
            ami("ami-1", ImageState::Available, Some("passed")),
            ami("ami-2", ImageState::Available, Some("passed")),
            ami("ami-3", ImageState::Disabled, Some("passed")),
            ami("ami-4", ImageState::Available, Some("failed")),
            ami("ami-5", ImageState::Available, Some("passed")),
        ]
        .into_iter()
        .collect();
        assert_eq!(last_good(&images, &amis, 5), Some((2, "ami-2".into())), "3 cannot launch, 4 failed");
        assert_eq!(last_good(&images, &amis, 2), Some((1, "ami-1".into())));
        assert_eq!(last_good(&images, &amis, 1), None, "nothing older");
        let unverified: HashMap<String, Ami> = [ami("ami-1", ImageState::Available, None)].into_iter().collect();
        assert_eq!(last_good(&images, &unverified, 5), None, "an unverified AMI is not known to be good");
    }
}
