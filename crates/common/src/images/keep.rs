//! Why an AMI must stay: the rules `delete-ami` refuses by and `prune-amis` keeps by, in one
//! vocabulary, so that the two tools never disagree on what is safe to delete.
//!
//! In order: deregistration protection (never overridden: EC2 refuses the deregistration, and
//! turning protection off is a deliberate act these tools never take); a use (an instance,
//! template, group or SSM parameter; `--force` overrides it in `delete-ami`); launch
//! permissions for anyone else (public, other accounts, organizations; `--include-shared`
//! overrides them).

use std::fmt;

use crate::{Ami, Uses};

/// One reason to keep an AMI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keep {
    /// Deregistration protection, as EC2 gives it (`enabled-with-cooldown`, ...).
    Protected(String),
    /// What uses it.
    InUse(String),
    /// Who else may launch it (`public`, `shared with account ...`).
    Shared(String),
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keep::Protected(how) => write!(f, "protected: deregistration protection is {how}"),
            Keep::InUse(why) => write!(f, "in use: {why}"),
            Keep::Shared(who) => write!(f, "shared: {who}"),
        }
    }
}

/// The reasons that do not depend on who asks: protection, then a use (unless `force`).
pub fn guarded(ami: &Ami, uses: &Uses, force: bool) -> Option<Keep> {
    if ami.is_protected() {
        return Some(Keep::Protected(ami.deregistration_protection.clone().unwrap_or_default()));
    }
    if force {
        return None;
    }
    uses.in_use.reason(&ami.image_id).map(Keep::InUse)
}

/// Whether anyone else may launch it: public, or shared (as the launch-permission lookup found).
pub fn shared(ami: &Ami, uses: &Uses) -> Option<Keep> {
    if ami.public {
        return Some(Keep::Shared("public".into()));
    }
    uses.shared.get(&ami.image_id).map(|who| Keep::Shared(who.clone()))
}

/// Why `ami` must not be deleted, or `None`: [`guarded`], then (unless `include_shared`)
/// [`shared`].
pub fn why_kept(ami: &Ami, uses: &Uses, force: bool, include_shared: bool) -> Option<Keep> {
    guarded(ami, uses, force).or_else(|| if include_shared || force { None } else { shared(ami, uses) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protection_then_use_then_sharing() {
        let mut ami = Ami { image_id: "ami-1".into(), public: true, ..Ami::default() };
        let mut uses = Uses::default();
        assert_eq!(why_kept(&ami, &uses, false, false), Some(Keep::Shared("public".into())));
        assert_eq!(why_kept(&ami, &uses, false, true), None, "--include-shared");
        uses.in_use.add("ami-1", "instance i-1 (running) runs it");
        assert_eq!(why_kept(&ami, &uses, false, true).unwrap().to_string(), "in use: instance i-1 (running) runs it");
        assert_eq!(why_kept(&ami, &uses, true, false), None, "--force overrides uses and sharing");
        ami.deregistration_protection = Some("enabled-without-cooldown".into());
        assert_eq!(
            why_kept(&ami, &uses, true, true).unwrap().to_string(),
            "protected: deregistration protection is enabled-without-cooldown",
            "nothing overrides protection"
        );
        ami.deregistration_protection = None;
        ami.public = false;
        uses.in_use = Default::default();
        uses.shared.insert("ami-1".into(), "shared with account 111122223333".into());
        assert_eq!(shared(&ami, &uses), Some(Keep::Shared("shared with account 111122223333".into())));
    }
}
