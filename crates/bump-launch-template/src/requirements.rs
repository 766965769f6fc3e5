//! bump's check of attribute-based instance type selection (`InstanceRequirements`), as EC2's
//! GetInstanceTypesFromInstanceRequirements takes it: Auto Scaling's overrides and a launch
//! template's data carry the same attributes in types of their own, and both become EC2's
//! `InstanceRequirementsRequest` here.

use aws_sdk_ec2::types as ec2;

/// The same accessors exist on Auto Scaling's `InstanceRequirements` and on EC2's (a launch
/// template version's); this builds EC2's request from either.
macro_rules! to_request {
    ($r:expr) => {{
        let r = $r;
        macro_rules! range {
            ($field:ident, $ty:ident) => {
                r.$field().map(|v| ec2::$ty::builder().set_min(v.min).set_max(v.max).build())
            };
        }
        macro_rules! list {
            ($field:ident) => {
                (!r.$field().is_empty()).then(|| r.$field().iter().map(|v| v.as_str().into()).collect())
            };
        }
        macro_rules! strings {
            ($field:ident) => {
                (!r.$field().is_empty()).then(|| r.$field().to_vec())
            };
        }
        ec2::InstanceRequirementsRequest::builder()
            .set_v_cpu_count(range!(v_cpu_count, VCpuCountRangeRequest))
            .set_memory_mib(range!(memory_mib, MemoryMiBRequest))
            .set_cpu_manufacturers(list!(cpu_manufacturers))
            .set_memory_gib_per_v_cpu(range!(memory_gib_per_v_cpu, MemoryGiBPerVCpuRequest))
            .set_excluded_instance_types(strings!(excluded_instance_types))
            .set_instance_generations(list!(instance_generations))
            .set_spot_max_price_percentage_over_lowest_price(r.spot_max_price_percentage_over_lowest_price())
            .set_on_demand_max_price_percentage_over_lowest_price(r.on_demand_max_price_percentage_over_lowest_price())
            .set_max_spot_price_as_percentage_of_optimal_on_demand_price(r.max_spot_price_as_percentage_of_optimal_on_demand_price())
            .set_bare_metal(r.bare_metal().map(|v| v.as_str().into()))
            .set_burstable_performance(r.burstable_performance().map(|v| v.as_str().into()))
            .set_require_hibernate_support(r.require_hibernate_support())
            .set_network_interface_count(range!(network_interface_count, NetworkInterfaceCountRequest))
            .set_local_storage(r.local_storage().map(|v| v.as_str().into()))
            .set_local_storage_types(list!(local_storage_types))
            .set_total_local_storage_gb(range!(total_local_storage_gb, TotalLocalStorageGbRequest))
            .set_baseline_ebs_bandwidth_mbps(range!(baseline_ebs_bandwidth_mbps, BaselineEbsBandwidthMbpsRequest))
            .set_accelerator_types(list!(accelerator_types))
            .set_accelerator_count(range!(accelerator_count, AcceleratorCountRequest))
            .set_accelerator_manufacturers(list!(accelerator_manufacturers))
            .set_accelerator_names(list!(accelerator_names))
            .set_accelerator_total_memory_mib(range!(accelerator_total_memory_mib, AcceleratorTotalMemoryMiBRequest))
            .set_network_bandwidth_gbps(range!(network_bandwidth_gbps, NetworkBandwidthGbpsRequest))
            .set_allowed_instance_types(strings!(allowed_instance_types))
            .set_baseline_performance_factors(r.baseline_performance_factors().map(|b| {
                ec2::BaselinePerformanceFactorsRequest::builder()
                    .set_cpu(b.cpu().map(|c| {
                        let refs = c.references().iter().map(|f| {
                            ec2::PerformanceFactorReferenceRequest::builder()
                                .set_instance_family(f.instance_family().map(str::to_owned))
                                .build()
                        });
                        ec2::CpuPerformanceFactorRequest::builder().set_references(Some(refs.collect())).build()
                    }))
                    .build()
            }))
            .build()
    }};
}

/// An Auto Scaling override's instance requirements, as EC2 takes them.
pub fn from_group(r: &aws_sdk_autoscaling::types::InstanceRequirements) -> ec2::InstanceRequirementsRequest {
    to_request!(r)
}

/// A launch template version's instance requirements, as EC2 takes them.
pub fn from_template(r: &ec2::InstanceRequirements) -> ec2::InstanceRequirementsRequest {
    to_request!(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_autoscaling::types as asg;

    #[test]
    fn a_groups_requirements_carry_over() {
        let r = asg::InstanceRequirements::builder()
            .v_cpu_count(asg::VCpuCountRequest::builder().min(2).max(8).build())
            .memory_mib(asg::MemoryMiBRequest::builder().min(4096).build())
            .cpu_manufacturers(asg::CpuManufacturer::Intel)
            .allowed_instance_types("c5.*")
            .burstable_performance(asg::BurstablePerformance::Included)
            .build();
        let req = from_group(&r);
        assert_eq!(req.v_cpu_count().unwrap().max, Some(8));
        assert_eq!(req.memory_mib().unwrap().min, Some(4096));
        assert_eq!(req.cpu_manufacturers(), [ec2::CpuManufacturer::Intel]);
        assert_eq!(req.allowed_instance_types(), ["c5.*"]);
        assert_eq!(req.burstable_performance(), Some(&ec2::BurstablePerformance::Included));
        assert!(req.excluded_instance_types().is_empty() && req.excluded_instance_types.is_none(), "unset stays unset");
    }
}
