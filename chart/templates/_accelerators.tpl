{{/*
Accelerator families: which GPUs the pod asks for, the runtime class they need, and the vLLM
image that can drive them.
*/}}

{{/*
The accelerator family of the pod's GPUs: "nvidia" for nvidia.com/* resources and vGPU slices
(HAMi and Volcano slice NVIDIA GPUs), "amd" for amd.com/*, "other" for any other device plugin,
empty without GPUs.
*/}}
{{- define "modelservice.acceleratorFamily" -}}
{{- if gt (int .Values.gpu.count) 0 }}
{{- if or .Values.vgpu.enabled (hasPrefix "nvidia.com/" .Values.gpu.resourceName) }}
{{- "nvidia" }}
{{- else if hasPrefix "amd.com/" .Values.gpu.resourceName }}
{{- "amd" }}
{{- else }}
{{- "other" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
RuntimeClass of the pod: gpu.runtimeClassName on GPU pods, except that "nvidia" (the NVIDIA
container runtime, the default) is rendered only for NVIDIA GPUs: it cannot hand any other
device to the container, and a node without it refuses the pod.
*/}}
{{- define "modelservice.runtimeClassName" -}}
{{- $family := include "modelservice.acceleratorFamily" . }}
{{- $name := .Values.gpu.runtimeClassName }}
{{- if and $family $name (or (ne $name "nvidia") (eq $family "nvidia")) }}
{{- $name }}
{{- end }}
{{- end }}

{{/*
Refuse vLLM's CUDA image on AMD GPUs: it cannot drive them (its ROCm build is
vllm/vllm-openai-rocm). `modelservice validate` says the same at the values line.
*/}}
{{- define "modelservice.checkAcceleratorImage" -}}
{{- if and (eq (include "modelservice.acceleratorFamily" .) "amd") (regexMatch "(^|/)vllm/vllm-openai$" .Values.image.repository) }}
{{- fail (printf "modelservice: gpu.resourceName %s is an AMD GPU, and %s is vLLM's CUDA build: set image.repository to vLLM's ROCm build, vllm/vllm-openai-rocm" .Values.gpu.resourceName .Values.image.repository) }}
{{- end }}
{{- end }}
