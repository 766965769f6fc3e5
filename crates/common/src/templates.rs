//! A launch template as Auto Scaling groups name it: by ID, or by name.

use aws_sdk_autoscaling::types::LaunchTemplateSpecification;

/// A launch template, by ID and (when known) name: groups may name it either way.
pub struct Template<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
}

impl Template<'_> {
    /// The version number `spec` names of this template, if it names this one by number.
    pub fn version_in(&self, spec: &LaunchTemplateSpecification) -> Option<i64> {
        let ours = spec.launch_template_id() == Some(self.id)
            || (spec.launch_template_id().is_none() && self.name.is_some() && spec.launch_template_name() == self.name);
        if ours {
            spec.version().and_then(|v| v.parse().ok())
        } else {
            None
        }
    }

    /// True when `spec` names this template, by ID or by name.
    pub fn is_used_by(&self, spec: &LaunchTemplateSpecification) -> bool {
        spec.launch_template_id() == Some(self.id) || (self.name.is_some() && spec.launch_template_name() == self.name)
    }
}
