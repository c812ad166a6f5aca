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
    assert "runtimeClassName" not in Objects(render_values(values(gpu=gpu))).pod


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
