//! What to launch, decided from the template version, the flags and the group, before any
//! instance exists: the instance type, the subnets to try, and what a check needs of the
//! template (an SSM command needs an instance profile).

use aws_sdk_ec2::types::{
    InstanceNetworkInterfaceSpecification, LaunchTemplateInstanceNetworkInterfaceSpecification, ResponseLaunchTemplateData,
};
use common::groups::launches::{Group, InstanceChoice};
use common::groups::templates::Template;

/// What the flags ask of the launch.
#[derive(Debug, Default)]
pub struct Wanted<'a> {
    pub instance_type: Option<&'a str>,
    pub subnet: Option<&'a str>,
    pub ssm_command: bool,
}

/// How the instances are launched, on top of the template version.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// The instance type to ask for; None: the template's.
    pub instance_type: Option<String>,
    /// The instance type the instances get, for the report.
    pub instance_type_shown: String,
    /// Subnets to try in turn; empty: the template's (or the default VPC's).
    pub subnets: Vec<String>,
    /// The template's network interfaces, when a subnet must replace theirs: RunInstances
    /// refuses a subnet beside the template's interfaces, so device 0 is restated with it.
    pub interfaces: Option<Vec<LaunchTemplateInstanceNetworkInterfaceSpecification>>,
}

/// Decides the launch, or says (one line) why it cannot be made.
pub fn plan(
    template: &Template<'_>,
    version: &str,
    data: &ResponseLaunchTemplateData,
    wanted: &Wanted<'_>,
    group: Option<&Group>,
) -> Result<Launch, String> {
    let named = format!("launch template {} version {version}", template.id);
    if wanted.ssm_command && data.iam_instance_profile().is_none() {
        return Err(format!(
            "--ssm-command needs an instance profile that lets the SSM agent register (AmazonSSMManagedInstanceCore), and {named} names none"
        ));
    }
    let group_type = group.and_then(|g| {
        g.uses_of(template).flat_map(|u| u.instance_types.iter()).find_map(|c| match c {
            InstanceChoice::Type(t) => Some(t.clone()),
            _ => None,
        })
    });
    let (instance_type, shown) = match (wanted.instance_type, data.instance_type()) {
        (Some(t), _) => (Some(t.to_owned()), t.to_owned()),
        (None, Some(t)) => (None, t.as_str().to_owned()),
        (None, None) => match group_type {
            Some(t) => (Some(t.clone()), t),
            None if data.instance_requirements().is_some() => {
                return Err(format!("{named} chooses instance types by attributes, which RunInstances cannot: pass --instance-type"))
            }
            None => return Err(format!("{named} names no instance type: pass --instance-type (or --asg, for the group's)")),
        },
    };
    let interfaces = data.network_interfaces();
    let template_subnet = interfaces.iter().find(|n| n.device_index().unwrap_or(0) == 0).and_then(|n| n.subnet_id());
    let subnets: Vec<String> = match (wanted.subnet, template_subnet, group) {
        (Some(s), _, _) => vec![s.to_owned()],
        (None, Some(_), _) => Vec::new(),
        (None, None, Some(g)) => g.subnets.clone(),
        (None, None, None) => Vec::new(),
    };
    if let Some(g) = group.filter(|g| g.subnets.is_empty() && wanted.subnet.is_none() && template_subnet.is_none()) {
        tracing::info!("group {} names no subnets: launching into the default VPC", g.name);
    }
    Ok(Launch {
        instance_type,
        instance_type_shown: shown,
        interfaces: (!subnets.is_empty() && !interfaces.is_empty()).then(|| interfaces.to_vec()),
        subnets,
    })
}

/// The template's network interfaces with device 0 in `subnet`, as RunInstances takes them.
pub fn interfaces_in(
    template: &[LaunchTemplateInstanceNetworkInterfaceSpecification],
    subnet: &str,
) -> Vec<InstanceNetworkInterfaceSpecification> {
    template
        .iter()
        .map(|n| {
            let device = n.device_index().unwrap_or(0);
            InstanceNetworkInterfaceSpecification::builder()
                .device_index(device)
                .set_subnet_id(if device == 0 { Some(subnet.to_owned()) } else { n.subnet_id().map(str::to_owned) })
                .set_groups((!n.groups().is_empty()).then(|| n.groups().to_vec()))
                .set_associate_public_ip_address(n.associate_public_ip_address())
                .set_delete_on_termination(n.delete_on_termination())
                .set_description(n.description().map(str::to_owned))
                .set_network_card_index(n.network_card_index())
                .set_interface_type(n.interface_type().map(str::to_owned))
                .build()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{InstanceRequirements, InstanceType, LaunchTemplateIamInstanceProfileSpecification};
    use common::groups::launches::{Slot, TemplateUse};
    use common::groups::templates::TemplateRef;

    const T: Template<'static> = Template { id: "lt-1", name: Some("web") };

    fn group(types: Vec<InstanceChoice>, subnets: &[&str]) -> Group {
        Group {
            name: "web".into(),
            templates: vec![TemplateUse {
                template: TemplateRef::Name("web".into()),
                version: "$Latest".into(),
                slot: Slot::Policy,
                instance_types: types,
            }],
            launch_configuration: None,
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            instances: Vec::new(),
        }
    }

    #[test]
    fn the_instance_type_is_the_flags_else_the_templates_else_the_groups() {
        let data = ResponseLaunchTemplateData::builder().instance_type(InstanceType::T3Micro).build();
        let p = plan(&T, "1", &data, &Wanted::default(), None).unwrap();
        assert_eq!((p.instance_type, p.instance_type_shown.as_str()), (None, "t3.micro"));
        let p = plan(&T, "1", &data, &Wanted { instance_type: Some("c5.large"), ..Wanted::default() }, None).unwrap();
        assert_eq!(p.instance_type.as_deref(), Some("c5.large"));
        let bare = ResponseLaunchTemplateData::builder().build();
        let g = group(vec![InstanceChoice::FromTemplate, InstanceChoice::Type("m5.large".into())], &[]);
        assert_eq!(plan(&T, "1", &bare, &Wanted::default(), Some(&g)).unwrap().instance_type.as_deref(), Some("m5.large"));
        assert!(plan(&T, "1", &bare, &Wanted::default(), None).unwrap_err().contains("names no instance type"));
        let by_attributes = ResponseLaunchTemplateData::builder().instance_requirements(InstanceRequirements::builder().build()).build();
        assert!(plan(&T, "1", &by_attributes, &Wanted::default(), None).unwrap_err().contains("by attributes"));
    }

    #[test]
    fn an_ssm_command_needs_an_instance_profile() {
        let data = ResponseLaunchTemplateData::builder().instance_type(InstanceType::T3Micro).build();
        let wanted = Wanted { ssm_command: true, ..Wanted::default() };
        let err = plan(&T, "2", &data, &wanted, None).unwrap_err();
        assert!(err.contains("launch template lt-1 version 2 names none"), "{err}");
        let with = ResponseLaunchTemplateData::builder()
            .set_instance_type(data.instance_type().cloned())
            .iam_instance_profile(LaunchTemplateIamInstanceProfileSpecification::builder().name("app").build())
            .build();
        assert!(plan(&T, "2", &with, &wanted, None).is_ok());
    }

    #[test]
    fn subnets_are_the_flags_else_the_templates_else_the_groups() {
        let data = ResponseLaunchTemplateData::builder().instance_type(InstanceType::T3Micro).build();
        let g = group(Vec::new(), &["subnet-a", "subnet-b"]);
        assert_eq!(plan(&T, "1", &data, &Wanted::default(), Some(&g)).unwrap().subnets, ["subnet-a", "subnet-b"]);
        let flag = Wanted { subnet: Some("subnet-c"), ..Wanted::default() };
        assert_eq!(plan(&T, "1", &data, &flag, Some(&g)).unwrap().subnets, ["subnet-c"]);
        assert!(plan(&T, "1", &data, &Wanted::default(), None).unwrap().subnets.is_empty());

        let nic =
            LaunchTemplateInstanceNetworkInterfaceSpecification::builder().device_index(0).subnet_id("subnet-t").groups("sg-1").build();
        let with_nic = ResponseLaunchTemplateData::builder().instance_type(InstanceType::T3Micro).network_interfaces(nic).build();
        let p = plan(&T, "1", &with_nic, &Wanted::default(), Some(&g)).unwrap();
        assert!(p.subnets.is_empty() && p.interfaces.is_none(), "the template's own subnet wins over the group's");
        let p = plan(&T, "1", &with_nic, &flag, None).unwrap();
        let restated = interfaces_in(p.interfaces.as_deref().unwrap(), "subnet-c");
        assert_eq!(restated[0].subnet_id(), Some("subnet-c"));
        assert_eq!(restated[0].groups(), ["sg-1"], "the interface keeps its security groups");
    }
}
