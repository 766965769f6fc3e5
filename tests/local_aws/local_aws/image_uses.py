"""What an AMI runs on, and what builds on it: the image fields and references the deploy tools
check before they deploy or delete an AMI, added to moto 5.2.5 as AWS documents them.

Image traits (RegisterImage, CreateImage, CopyImage)
  * RegisterImage honours Architecture (AWS's default for an EBS-backed AMI is ``i386``),
    BootMode (none by default: an instance then boots in its type's default mode) and
    EnaSupport; moto ignores all three and says ``uefi`` for every image.
  * CreateImage gives the AMI its instance's architecture, and the boot mode and ENA support
    of the AMI the instance was launched from (an instance's ``enaSupport`` comes from its
    AMI), as AWS does.
  * CopyImage keeps all three.
  moto's DescribeInstanceTypes already answers with AWS's data for each type
  (``ProcessorInfo.SupportedArchitectures``, ``SupportedBootModes``, ``NetworkInfo.EnaSupport``).

Instance types by attributes (GetInstanceTypesFromInstanceRequirements), which moto lacks
  The instance types of moto's data (AWS's own) that have one of the ArchitectureTypes and
  VirtualizationTypes and meet the InstanceRequirements, paged: VCpuCount and MemoryMiB
  (both required, as AWS requires them), CpuManufacturers, MemoryGiBPerVCpu,
  AllowedInstanceTypes and ExcludedInstanceTypes (with `*` wildcards), BareMetal and
  BurstablePerformance (`excluded` by default, as on AWS: no t-family types unless asked),
  InstanceGenerations. Attributes that need prices or capacity (Spot and On-Demand price
  protection, accelerators, storage, bandwidth) are not modelled: they do not narrow the list.

Image Builder recipes (DescribeImageReferences)
  There is no Image Builder here, so a test registers a recipe with the ``recipe`` control
  (its ARN, kind ``image`` or ``container``, and the AMI it builds on: the recipe's
  ``parentImage``). DescribeImageReferences then reports it for ResourceTypes
  ``imagebuilder:ImageRecipe`` / ``imagebuilder:ContainerRecipe`` (and IncludeAllResourceTypes),
  and records the Image Builder permissions EC2 uses on the caller's behalf to find them, as
  AWS's managed policy for image references (AmazonEC2ImageReferencesAccessPolicy) grants
  them: ``imagebuilder:ListImageRecipes`` for image recipes, ``imagebuilder:ListContainerRecipes``
  and ``imagebuilder:GetContainerRecipe`` for container recipes (a container recipe's parent
  image is only in its full description).
"""

from __future__ import annotations

import fnmatch
import threading
from typing import Any, Callable

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.responses.amis import AmisResponse
from .core import paged, _authorize
from . import image_uses

LOCK = threading.RLock()

# Recipes a test registered, by (account, region): [{"arn", "kind", "parent_image"}].
RECIPES: dict[tuple[str, str], list[dict[str, str]]] = {}

RECIPE_TYPES = {"image": "imagebuilder:ImageRecipe", "container": "imagebuilder:ContainerRecipe"}
RECIPE_PERMISSIONS = {
    "imagebuilder:ImageRecipe": ("imagebuilder:ListImageRecipes",),
    "imagebuilder:ContainerRecipe": ("imagebuilder:ListContainerRecipes", "imagebuilder:GetContainerRecipe"),
}


def add_recipe(account: str, region: str, arn: str, kind: str, parent_image: str) -> None:
    """Test control: an Image Builder recipe of `kind` (image, container) building on an AMI."""
    if kind not in RECIPE_TYPES:
        raise ValueError(f"recipe kind must be image or container, not {kind!r}")
    with LOCK:
        RECIPES.setdefault((account, region), []).append({"arn": arn, "kind": kind, "parent_image": parent_image})


def recipe_references(account: str, region: str, types: set[str], wanted: set[str], authorize: Callable[..., None]) -> list[dict[str, str]]:
    """The references DescribeImageReferences reports for recipes among `types`."""
    refs = []
    for resource_type, permissions in RECIPE_PERMISSIONS.items():
        if resource_type not in types:
            continue
        authorize(region, *permissions)
        with LOCK:
            recipes = list(RECIPES.get((account, region), []))
        for r in recipes:
            if RECIPE_TYPES[r["kind"]] == resource_type and r["parent_image"] in wanted:
                refs.append({"ImageId": r["parent_image"], "ResourceType": resource_type, "Arn": r["arn"]})
    return refs


def init_traits(ami: Any, kwargs: dict[str, Any]) -> None:
    """For every new image (local_aws's Ami.__init__): AWS gives an image a boot mode only
    when one is set (moto says "uefi" for all), and a copy (`source_ami`) keeps its source's."""
    if "boot_mode" not in kwargs:
        ami.boot_mode = None
    ami.ena_support = None
    source = kwargs.get("source_ami")
    if source is not None:
        ami.boot_mode = source.boot_mode
        ami.ena_support = source.ena_support


def register_traits(resp: AmisResponse, image_id: str) -> None:
    """RegisterImage's Architecture, BootMode and EnaSupport, with AWS's defaults."""
    ami = resp.ec2_backend.amis[image_id]
    ami.architecture = resp._get_param("Architecture") or "i386"
    ami.boot_mode = resp._get_param("BootMode")
    ena = resp._get_param("EnaSupport")
    ami.ena_support = None if ena is None else str(ena).lower() == "true"


def create_traits(backend: Any, ami: Any) -> None:
    """CreateImage: the instance's AMI's boot mode and ENA support (moto copies the architecture)."""
    source = backend.amis.get(ami.instance.image_id)
    if source is not None:
        ami.boot_mode = source.boot_mode
        ami.ena_support = source.ena_support


_MANUFACTURERS = {"Intel": "intel", "AMD": "amd", "AWS": "amazon-web-services", "Apple": "apple"}


def _within(value: float | None, bounds: dict[str, Any] | None) -> bool:
    if not bounds:
        return True
    if value is None:
        return False
    lo, hi = bounds.get("Min"), bounds.get("Max")
    return (lo is None or value >= float(lo)) and (hi is None or value <= float(hi))


def _allows(t: dict[str, Any], req: dict[str, Any]) -> bool:
    name = t["InstanceType"]
    vcpus = t.get("VCpuInfo", {}).get("DefaultVCpus")
    mib = t.get("MemoryInfo", {}).get("SizeInMiB")
    if not (_within(vcpus, req.get("VCpuCount")) and _within(mib, req.get("MemoryMiB"))):
        return False
    if vcpus and mib and not _within(mib / 1024 / vcpus, req.get("MemoryGiBPerVCpu")):
        return False
    makers = req.get("CpuManufacturers") or []
    if makers and _MANUFACTURERS.get(t.get("ProcessorInfo", {}).get("Manufacturer", "")) not in makers:
        return False
    allowed = req.get("AllowedInstanceTypes") or []
    if allowed and not any(fnmatch.fnmatchcase(name, p) for p in allowed):
        return False
    if any(fnmatch.fnmatchcase(name, p) for p in req.get("ExcludedInstanceTypes") or []):
        return False
    metal = t.get("BareMetal", False)
    if (req.get("BareMetal") or "excluded") == ("excluded" if metal else "required"):
        return False
    burstable = t.get("BurstablePerformanceSupported", False)
    if (req.get("BurstablePerformance") or "excluded") == ("excluded" if burstable else "required"):
        return False
    generations = req.get("InstanceGenerations") or []
    current = t.get("CurrentGeneration", True)
    if generations and ("current" if current else "previous") not in generations:
        return False
    return True


def get_instance_types_from_instance_requirements(self: Any) -> ActionResult:
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    arches = self._get_param("ArchitectureTypes", [])
    virt = self._get_param("VirtualizationTypes", [])
    req = self._get_param("InstanceRequirements") or {}
    if not arches or not virt or not req:
        raise EC2ClientError("MissingParameter", "ArchitectureTypes, VirtualizationTypes and InstanceRequirements are required.")
    if "VCpuCount" not in req or "MemoryMiB" not in req:
        raise EC2ClientError("MissingParameter", "InstanceRequirements needs VCpuCount and MemoryMiB.")
    self.error_on_dryrun()
    names = sorted(
        name
        for name, t in INSTANCE_TYPES.items()
        if set(arches) & set(t.get("ProcessorInfo", {}).get("SupportedArchitectures", []))
        and set(virt) & set(t.get("SupportedVirtualizationTypes", []))
        and _allows(t, req)
    )
    size = self._get_int_param("MaxResults") or 1000
    return paged("InstanceTypes", names, self._get_param("NextToken"), size, lambda page: [{"InstanceType": n} for n in page])


def _ssm_parameters(account: str, region: str) -> list[Any]:
    from moto.ssm.models import ssm_backends

    backend = ssm_backends[account][region]
    return [versions[-1] for name, versions in list(backend._parameters.items()) if versions]


def _parameter_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"


def describe_image_references(self: AmisResponse) -> ActionResult:
    ids = self._get_param("ImageIds", [])
    if not 1 <= len(ids) <= 10:
        raise EC2ClientError("InvalidParameterValue", "ImageIds must name between 1 and 10 images.")
    include_all = self._get_bool_param("IncludeAllResourceTypes", False)
    requested = self._get_param("ResourceTypes", [])
    if not include_all and not requested:
        raise EC2ClientError("MissingParameter", "Specify either IncludeAllResourceTypes or ResourceTypes.")
    self.error_on_dryrun()
    options: dict[str, dict[str, list[str]]] = {}
    for r in requested:
        opts = {o.get("OptionName"): o.get("OptionValues", []) for o in r.get("ResourceTypeOptions", [])}
        options[r["ResourceType"]] = opts
    every = {"ec2:Instance", "ec2:LaunchTemplate", "ssm:Parameter", *RECIPE_PERMISSIONS}
    types = set(options) | (every if include_all else set())
    backend = self.ec2_backend
    region, account = self.region, self.current_account
    wanted = set(ids)
    refs: list[dict[str, str]] = []
    if "ec2:Instance" in types:
        states = set(options.get("ec2:Instance", {}).get("state-name", [])) or {"pending", "running", "shutting-down", "stopping", "stopped"}
        for reservation in backend.reservations.values():
            for inst in reservation.instances:
                if inst.image_id in wanted and inst.state in states:
                    refs.append({"ImageId": inst.image_id, "ResourceType": "ec2:Instance",
                                 "Arn": f"arn:aws:ec2:{region}:{account}:instance/{inst.id}"})
    if "ec2:LaunchTemplate" in types:
        depth = int((options.get("ec2:LaunchTemplate", {}).get("version-depth") or ["10"])[0])
        for template in backend.launch_templates.values():
            for version in sorted(template.versions, key=lambda v: v.number)[-depth:]:
                image = version.data.get("ImageId")
                if image in wanted:
                    refs.append({"ImageId": image, "ResourceType": "ec2:LaunchTemplate",
                                 "Arn": f"arn:aws:ec2:{region}:{account}:launch-template/{template.id}"})
    if "ssm:Parameter" in types:
        _authorize(region, "ssm:DescribeParameters", "ssm:GetParameters")
        for param in _ssm_parameters(account, region):
            if param.data_type == "aws:ec2:image" and param.value in wanted:
                refs.append({"ImageId": param.value, "ResourceType": "ssm:Parameter",
                             "Arn": _parameter_arn(region, account, param.name)})
    refs.extend(image_uses.recipe_references(account, region, types, wanted, _authorize))
    return paged("ImageReferences", refs, self._get_param("NextToken"), self._get_int_param("MaxResults"))


def install() -> None:
    from moto.ec2.responses.instances import InstanceResponse

    AmisResponse.describe_image_references = describe_image_references
    InstanceResponse.get_instance_types_from_instance_requirements = get_instance_types_from_instance_requirements
