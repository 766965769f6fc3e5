//! Whether the AMI can launch where the template and the groups on it would launch it, checked
//! before any version is made: a mismatch fails every launch of the new version, so the next
//! refresh or scale-out would fail instead of this step.
//!
//! The AMI must be `available` (not pending, failed or disabled) and fit every instance type
//! it would run on: the template's own `InstanceType` (the new version copies it), and each
//! type that a group's overrides name for this template (`common::groups::launches`). For each type
//! (`DescribeInstanceTypes`): the AMI's `Architecture` among its `SupportedArchitectures`, its
//! `BootMode` among its `SupportedBootModes` (`uefi-preferred` fits either; an AMI that names
//! none boots in the type's default), and `EnaSupport` where the type requires ENA. Where types
//! are chosen by attributes (`InstanceRequirements`, the template's or an override's), EC2
//! picks among those that fit the AMI's architecture, so the question is whether any type the
//! requirements allow does: GetInstanceTypesFromInstanceRequirements answers it (one call
//! each). Where EC2 gives no answer (the call is refused), a note says it was not checked.

use std::collections::BTreeMap;

use anyhow::Result;
use aws_sdk_ec2::types::{ArchitectureType, ImageState, InstanceRequirementsRequest, InstanceType, InstanceTypeInfo, VirtualizationType};
use common::aws::error::{aws_error, AwsError};
use common::groups::launches::{Group, InstanceChoice};
use common::groups::templates::Template;
use common::Ami;

/// What one instance type runs, from DescribeInstanceTypes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeInfo {
    pub architectures: Vec<String>,
    pub boot_modes: Vec<String>,
    /// `NetworkInfo.EnaSupport`: `required`, `supported` or `unsupported`.
    pub ena: Option<String>,
}

impl TypeInfo {
    fn from_sdk(t: &InstanceTypeInfo) -> TypeInfo {
        TypeInfo {
            architectures: t
                .processor_info()
                .map(|p| p.supported_architectures().iter().map(|a| a.as_str().to_owned()).collect())
                .unwrap_or_default(),
            boot_modes: t.supported_boot_modes().iter().map(|b| b.as_str().to_owned()).collect(),
            ena: t.network_info().and_then(|n| n.ena_support()).map(|e| e.as_str().to_owned()),
        }
    }
}

/// The instance types the new version's instances may run on, each with where it comes
/// from, the instance requirements that choose types by attributes, and notes on what cannot
/// be checked.
#[derive(Debug, Default, PartialEq)]
pub struct Targets {
    /// Instance type -> where it is named ("the template's instance type", "group web").
    pub types: BTreeMap<String, Vec<String>>,
    /// Where ("the template", "group web") -> the requirements it chooses types by.
    pub requirements: Vec<(String, InstanceRequirementsRequest)>,
    pub notes: Vec<String>,
}

/// The instance types to check: the source version's own (`template_type`, or the
/// requirements it chooses by), and those the groups on `template` name for it.
pub fn targets(
    template: &Template<'_>,
    template_type: Option<&str>,
    template_requirements: Option<&InstanceRequirementsRequest>,
    groups: &[Group],
) -> Targets {
    let mut t = Targets::default();
    if let Some(name) = template_type {
        t.types.entry(name.to_owned()).or_default().push("the template's instance type".into());
    }
    if let Some(r) = template_requirements {
        t.requirements.push(("the template".into(), r.clone()));
    }
    for group in groups {
        for u in group.uses_of(template) {
            for choice in &u.instance_types {
                match choice {
                    InstanceChoice::Type(name) => t.types.entry(name.clone()).or_default().push(format!("group {}", group.name)),
                    InstanceChoice::Attributes(r) => {
                        t.requirements.push((format!("group {} ({})", group.name, u.slot), crate::requirements::from_group(r)))
                    }
                    InstanceChoice::FromTemplate => {}
                }
            }
        }
    }
    if t.types.is_empty() && t.requirements.is_empty() {
        t.notes.push("neither the template nor a group on it names an instance type: the AMI's fit is not checked".into());
    }
    t
}

/// Why `ami` cannot launch anywhere (not `available`, or disabled), or `None`.
pub fn unlaunchable(ami: &Ami) -> Option<String> {
    let id = &ami.image_id;
    match &ami.state {
        ImageState::Available => None,
        ImageState::Disabled => Some(format!("{id} is disabled: it cannot launch (EnableImage brings it back)")),
        other => Some(format!("{id} is {}, not available: it cannot launch", other.as_str())),
    }
}

/// Every way an available `ami` cannot launch on the `types` (named by `targets`), one clause each:
/// `ami-1 is arm64; t3.micro runs x86_64 (the template's instance type)`.
pub fn mismatches(ami: &Ami, targets: &Targets, types: &BTreeMap<String, TypeInfo>) -> Vec<String> {
    let id = &ami.image_id;
    let mut out = Vec::new();
    for (name, wheres) in &targets.types {
        let Some(info) = types.get(name) else { continue };
        let at = wheres.join(", ");
        if let Some(arch) = &ami.architecture {
            if !info.architectures.is_empty() && !info.architectures.contains(arch) {
                out.push(format!("{id} is {arch}; {name} runs {} ({at})", info.architectures.join(" and ")));
            }
        }
        if let Some(mode) = &ami.boot_mode {
            let fits = match mode.as_str() {
                "uefi-preferred" => true,
                m => info.boot_modes.is_empty() || info.boot_modes.iter().any(|b| b == m),
            };
            if !fits {
                out.push(format!("{id} boots {mode}; {name} boots {} ({at})", info.boot_modes.join(" and ")));
            }
        }
        if info.ena.as_deref() == Some("required") && ami.ena_support != Some(true) {
            out.push(format!("{id} has no ENA support; {name} requires ENA ({at})"));
        }
    }
    out
}

/// For each set of instance requirements, whether any type it allows runs the AMI's
/// architecture (GetInstanceTypesFromInstanceRequirements, which stops at the first page that
/// names one). Returns the mismatches, and notes where EC2 gave no answer.
pub async fn attribute_mismatches(
    ec2: &aws_sdk_ec2::Client,
    ami: &Ami,
    requirements: &[(String, InstanceRequirementsRequest)],
) -> Result<(Vec<String>, Vec<String>)> {
    let (mut wrong, mut notes) = (Vec::new(), Vec::new());
    let Some(arch) = ami.architecture.as_deref() else {
        if !requirements.is_empty() {
            notes.push(format!("{} names no architecture: the instance types chosen by attributes are not checked", ami.image_id));
        }
        return Ok((wrong, notes));
    };
    for (at, r) in requirements {
        let mut pages = ec2
            .get_instance_types_from_instance_requirements()
            .architecture_types(ArchitectureType::from(arch))
            .virtualization_types(VirtualizationType::Hvm)
            .instance_requirements(r.clone())
            .into_paginator()
            .send();
        let mut any = false;
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) if !page.instance_types().is_empty() => {
                    any = true;
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    let why = AwsError::from_sdk("asking EC2 which instance types the requirements allow", &e);
                    notes.push(format!(
                        "{at} chooses instance types by attributes, and EC2 did not say which run {arch} ({why}): not checked"
                    ));
                    any = true;
                    break;
                }
            }
        }
        if !any {
            wrong.push(format!("{} is {arch}; no instance type that {at}'s instance requirements allow runs {arch}", ami.image_id));
        }
    }
    Ok((wrong, notes))
}

/// DescribeInstanceTypes for `names`, at most 100 a call, every page.
pub async fn describe_types(ec2: &aws_sdk_ec2::Client, names: &[String]) -> Result<BTreeMap<String, TypeInfo>> {
    let mut out = BTreeMap::new();
    for batch in names.chunks(100) {
        let mut pages = ec2
            .describe_instance_types()
            .set_instance_types(Some(batch.iter().map(|n| InstanceType::from(n.as_str())).collect()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error(format!("describing instance types {}", batch.join(", ")), e))?;
            for t in page.instance_types() {
                if let Some(name) = t.instance_type() {
                    out.insert(name.as_str().to_owned(), TypeInfo::from_sdk(t));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::groups::launches::{Slot, TemplateUse};
    use common::groups::templates::TemplateRef;

    fn ami(arch: &str, boot: Option<&str>, ena: Option<bool>) -> Ami {
        Ami {
            image_id: "ami-1".into(),
            state: ImageState::Available,
            architecture: Some(arch.into()),
            boot_mode: boot.map(str::to_owned),
            ena_support: ena,
            ..Ami::default()
        }
    }

    fn info(arch: &[&str], boot: &[&str], ena: &str) -> TypeInfo {
        TypeInfo {
            architectures: arch.iter().map(|s| (*s).to_owned()).collect(),
            boot_modes: boot.iter().map(|s| (*s).to_owned()).collect(),
            ena: Some(ena.into()),
        }
    }

    fn known() -> BTreeMap<String, TypeInfo> {
        BTreeMap::from([
            ("t3.micro".to_owned(), info(&["x86_64"], &["legacy-bios", "uefi"], "required")),
            ("t4g.micro".to_owned(), info(&["arm64"], &["uefi"], "required")),
            ("t2.micro".to_owned(), info(&["i386", "x86_64"], &["legacy-bios"], "unsupported")),
        ])
    }

    fn on(types: &[&str]) -> Targets {
        Targets {
            types: types.iter().map(|t| ((*t).to_owned(), vec!["the template's instance type".to_owned()])).collect(),
            ..Targets::default()
        }
    }

    #[test]
    fn architecture_boot_mode_and_ena_must_fit() {
        let types = known();
        assert_eq!(
            mismatches(&ami("arm64", None, Some(true)), &on(&["t3.micro"]), &types),
            ["ami-1 is arm64; t3.micro runs x86_64 (the template's instance type)"]
        );
        assert!(mismatches(&ami("arm64", Some("uefi"), Some(true)), &on(&["t4g.micro"]), &types).is_empty());
        assert_eq!(
            mismatches(&ami("x86_64", Some("uefi"), None), &on(&["t2.micro"]), &types),
            ["ami-1 boots uefi; t2.micro boots legacy-bios (the template's instance type)"]
        );
        assert!(mismatches(&ami("x86_64", Some("uefi-preferred"), None), &on(&["t2.micro"]), &types).is_empty());
        assert_eq!(
            mismatches(&ami("x86_64", None, Some(false)), &on(&["t3.micro"]), &types),
            ["ami-1 has no ENA support; t3.micro requires ENA (the template's instance type)"]
        );
        assert!(mismatches(&ami("x86_64", Some("legacy-bios"), Some(true)), &on(&["t3.micro", "t2.micro"]), &types).is_empty());
    }

    #[test]
    fn an_ami_that_cannot_launch_is_refused_whatever_the_type() {
        let mut a = ami("x86_64", None, Some(true));
        a.state = ImageState::Disabled;
        assert_eq!(unlaunchable(&a).unwrap(), "ami-1 is disabled: it cannot launch (EnableImage brings it back)");
        a.state = ImageState::Pending;
        assert_eq!(unlaunchable(&a).unwrap(), "ami-1 is pending, not available: it cannot launch");
        a.state = ImageState::Available;
        assert_eq!(unlaunchable(&a), None);
    }

    #[test]
    fn the_groups_overrides_and_requirements_are_gathered() {
        let template = Template { id: "lt-1", name: Some("web") };
        let group = Group {
            name: "web".into(),
            templates: vec![
                TemplateUse {
                    template: TemplateRef::Id("lt-1".into()),
                    version: "$Latest".into(),
                    slot: Slot::Policy,
                    instance_types: vec![
                        InstanceChoice::Type("t4g.micro".into()),
                        InstanceChoice::Attributes(Box::new(aws_sdk_autoscaling::types::InstanceRequirements::builder().build())),
                    ],
                },
                TemplateUse {
                    template: TemplateRef::Id("lt-other".into()),
                    version: "1".into(),
                    slot: Slot::Override { index: 2 },
                    instance_types: vec![InstanceChoice::Type("c5.large".into())],
                },
            ],
            launch_configuration: None,
            subnets: Vec::new(),
            instances: Vec::new(),
        };
        let t = targets(&template, Some("t3.micro"), None, &[group]);
        assert_eq!(t.types.keys().collect::<Vec<_>>(), ["t3.micro", "t4g.micro"]);
        assert_eq!(t.types["t4g.micro"], ["group web"]);
        assert_eq!(t.requirements.len(), 1);
        assert_eq!(t.requirements[0].0, "group web (its mixed instances policy's template)");
        assert!(t.notes.is_empty(), "{:?}", t.notes);
        let none = targets(&template, None, None, &[]);
        assert!(none.types.is_empty() && none.notes[0].contains("not checked"));
    }
}
