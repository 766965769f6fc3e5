//! A launch template as Auto Scaling groups name it: by ID, or by name.

use std::fmt;

/// How a group (or an override, or a refresh's desired configuration) names a launch
/// template: AWS takes either its ID or its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TemplateRef {
    Id(String),
    Name(String),
}

impl TemplateRef {
    /// From a launch template specification's ID and name (the ID wins when both are given).
    pub fn from_parts(id: Option<&str>, name: Option<&str>) -> Option<TemplateRef> {
        match (id, name) {
            (Some(id), _) => Some(TemplateRef::Id(id.to_owned())),
            (None, Some(name)) => Some(TemplateRef::Name(name.to_owned())),
            (None, None) => None,
        }
    }
}

impl fmt::Display for TemplateRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateRef::Id(id) => f.write_str(id),
            TemplateRef::Name(name) => write!(f, "{name:?}"),
        }
    }
}

/// A launch template, by ID and (when known) name: groups may name it either way.
pub struct Template<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
}

impl Template<'_> {
    /// True when `named` is this template, by ID or by name.
    pub fn is(&self, named: &TemplateRef) -> bool {
        match named {
            TemplateRef::Id(id) => id == self.id,
            TemplateRef::Name(name) => Some(name.as_str()) == self.name,
        }
    }
}

/// A template's numbered versions and the AMI each launches (those that name one), with the
/// numbers of its latest and default versions.
#[derive(Debug, Clone, Default)]
pub struct VersionImages {
    pub images: std::collections::BTreeMap<i64, String>,
    pub latest: i64,
    pub default: i64,
}

impl VersionImages {
    /// The number a group's version names: a number, `$Latest` or `$Default`.
    pub fn resolve(&self, version: &str) -> Option<i64> {
        match version {
            "$Latest" => Some(self.latest),
            "$Default" => Some(self.default),
            n => n.parse().ok(),
        }
    }
}

/// Every version of template `lt` (every page of DescribeLaunchTemplateVersions).
pub async fn version_images(ec2: &aws_sdk_ec2::Client, lt: &str) -> anyhow::Result<VersionImages> {
    let mut pages = ec2.describe_launch_template_versions().launch_template_id(lt).max_results(200).into_paginator().send();
    let mut found = VersionImages::default();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| crate::aws::error::aws_error(format!("listing the versions of launch template {lt}"), e))?;
        for v in page.launch_template_versions() {
            let n = v.version_number().unwrap_or_default();
            found.latest = found.latest.max(n);
            if v.default_version() == Some(true) {
                found.default = n;
            }
            if let Some(image) = v.launch_template_data().and_then(|d| d.image_id()).filter(|i| i.starts_with("ami-")) {
                found.images.insert(n, image.to_owned());
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_named_by_id_or_by_name() {
        let t = Template { id: "lt-1", name: Some("web") };
        assert!(t.is(&TemplateRef::Id("lt-1".into())));
        assert!(t.is(&TemplateRef::Name("web".into())));
        assert!(!t.is(&TemplateRef::Id("lt-2".into())));
        assert!(!t.is(&TemplateRef::Name("api".into())));
        let unnamed = Template { id: "lt-1", name: None };
        assert!(!unnamed.is(&TemplateRef::Name("web".into())));
        assert_eq!(TemplateRef::from_parts(Some("lt-1"), Some("web")), Some(TemplateRef::Id("lt-1".into())));
        assert_eq!(TemplateRef::from_parts(None, Some("web")), Some(TemplateRef::Name("web".into())));
        assert_eq!(TemplateRef::from_parts(None, None), None);
    }
}
