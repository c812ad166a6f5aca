"""GPUs beyond NVIDIA: the runtime class only where the device needs it, and the image of the
accelerator family."""

from __future__ import annotations

import pytest

from conftest import Objects, render_values, values

ROCM = {"repository": "vllm/vllm-openai-rocm"}


def test_amd_gpus_render_no_nvidia_runtime_class_and_the_rocm_image():
    objects = Objects(render_values(values(gpu={"resourceName": "amd.com/gpu"}, image=ROCM)))
    assert "runtimeClassName" not in objects.pod
    assert objects.server["image"] == "vllm/vllm-openai-rocm:v0.33.0"
    assert objects.download["image"] == "vllm/vllm-openai-rocm:v0.33.0"
    assert objects.server["resources"]["limits"] == {"amd.com/gpu": "1"}


def test_a_runtime_class_of_your_own_is_rendered_for_amd_gpus():
    gpu = {"resourceName": "amd.com/gpu", "runtimeClassName": "rocm"}
    assert Objects(render_values(values(gpu=gpu, image=ROCM))).pod["runtimeClassName"] == "rocm"


def test_another_device_plugin_gets_no_nvidia_runtime_class():
    gpu = {"resourceName": "gpu.intel.com/i915"}
    image = {"repository": "intel/vllm", "tag": "0.17.0-xpu"}
    assert "runtimeClassName" not in Objects(render_values(values(gpu=gpu, image=image))).pod


FAMILIES = [
    # (resource, the image built for it), from chart/files/accelerators.yaml
    ("gpu.intel.com/i915", "intel/vllm"),
    ("gpu.intel.com/xe", "intel/vllm"),
    (
        "habana.ai/gaudi",
        "vault.habana.ai/gaudi-docker/VERSION/ubuntu24.04/habanalabs/vllm-plugin-PT_VERSION",
    ),
    ("huawei.com/Ascend910", "quay.io/ascend/vllm-ascend"),
    ("google.com/tpu", "vllm/vllm-tpu"),
    ("amd.com/gpu", "vllm/vllm-openai-rocm"),
]


@pytest.mark.parametrize(("resource", "image"), FAMILIES)
def test_the_cuda_image_is_refused_on_every_other_family_with_that_familys_image(resource, image):
    refusal = f"set image.repository to {image}, vLLM's build for "
    with pytest.raises(Exception, match="gpu-image-accelerator-mismatch") as found:
        render_values(values(gpu={"resourceName": resource}))
    assert refusal in str(found.value)


def test_the_rocm_image_is_refused_on_nvidia_gpus():
    with pytest.raises(Exception, match=r"set image\.repository to vllm/vllm-openai, vLLM.s build"):
        render_values(values(image=ROCM))


@pytest.mark.parametrize(
    ("resource", "repository"),
    [
        ("gpu.intel.com/i915", "intel/vllm"),
        (
            "habana.ai/gaudi",
            "vault.habana.ai/gaudi-docker/1.22.2/ubuntu24.04/habanalabs/vllm-plugin-2.7.1",
        ),
        ("huawei.com/Ascend910", "quay.io/ascend/vllm-ascend"),
        ("google.com/tpu", "vllm/vllm-tpu"),
        ("amd.com/gpu", "rocm/vllm"),
    ],
)
def test_each_family_renders_with_its_own_image_and_no_nvidia_runtime_class(resource, repository):
    image = {"repository": repository, "tag": "v1"}
    objects = Objects(render_values(values(gpu={"resourceName": resource}, image=image)))
    assert "runtimeClassName" not in objects.pod
    assert objects.server["resources"]["limits"] == {resource: "1"}


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"gpu": {"resourceName": "nvidia.com/mig-1g.10gb"}},
        {"vgpu": {"enabled": True, "memoryMiB": 8000}},
        {"vgpu": {"enabled": True, "provider": "volcano", "memoryMiB": 8000}},
    ],
    ids=["whole-gpu", "mig-slice", "hami-slice", "volcano-slice"],
)
def test_nvidia_gpus_and_their_slices_keep_the_nvidia_runtime_class(extra):
    assert Objects(render_values(values(**extra))).pod["runtimeClassName"] == "nvidia"


def test_plain_helm_refuses_the_cuda_image_on_amd_gpus():
    refusal = (
        r"set image\.repository to vllm/vllm-openai-rocm, vLLM's build for AMD GPUs "
        r"\[gpu-image-accelerator-mismatch\]"
    )
    with pytest.raises(Exception, match=refusal):
        render_values(values(gpu={"resourceName": "amd.com/gpu"}))
