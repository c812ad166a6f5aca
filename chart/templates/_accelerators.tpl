{{/*
Accelerator families: which GPUs the pod asks for, the runtime class they need, and the vLLM
images that can drive them, all from files/accelerators.yaml (which `modelservice validate`
reads too).
*/}}

{{/*
The accelerator data of files/accelerators.yaml, as a dict.
*/}}
{{- define "modelservice.acceleratorData" -}}
{{- .Files.Get "files/accelerators.yaml" }}
{{- end }}

{{/*
The accelerator family of the pod's GPUs: the name of the family whose resource prefix
gpu.resourceName starts with ("nvidia" for vGPU slices too: HAMi and Volcano slice NVIDIA
GPUs), "other" for a device plugin of no known family, empty without GPUs.
*/}}
{{- define "modelservice.acceleratorFamily" -}}
{{- if gt (int .Values.gpu.count) 0 }}
{{- $data := include "modelservice.acceleratorData" . | fromYaml }}
{{- $found := "" }}
{{- range $data.families }}
{{- $family := . }}
{{- range .resourcePrefixes }}
{{- if and (not $found) (or (hasPrefix . $.Values.gpu.resourceName) (and $.Values.vgpu.enabled (eq $family.name "nvidia"))) }}
{{- $found = $family.name }}
{{- end }}
{{- end }}
{{- end }}
{{- $found | default "other" }}
{{- end }}
{{- end }}

{{/*
The family an image.repository is built for (files/accelerators.yaml images), else empty.
*/}}
{{- define "modelservice.imageFamily" -}}
{{- $data := include "modelservice.acceleratorData" . | fromYaml }}
{{- $found := "" }}
{{- range $data.images }}
{{- if and (not $found) (regexMatch .pattern $.Values.image.repository) }}
{{- $found = .family }}
{{- end }}
{{- end }}
{{- $found }}
{{- end }}

{{/*
RuntimeClass of the pod: gpu.runtimeClassName on GPU pods, except that a family's own runtime
class (the NVIDIA container runtime, "nvidia", the default) is rendered only for that family's
GPUs: it cannot hand any other device to the container, and a node without it refuses the pod.
*/}}
{{- define "modelservice.runtimeClassName" -}}
{{- $family := include "modelservice.acceleratorFamily" . }}
{{- $name := .Values.gpu.runtimeClassName }}
{{- $owner := "" }}
{{- range (include "modelservice.acceleratorData" . | fromYaml).families }}
{{- if and .runtimeClass (eq .runtimeClass $name) }}
{{- $owner = .name }}
{{- end }}
{{- end }}
{{- if and $family $name (or (not $owner) (eq $owner $family)) }}
{{- $name }}
{{- end }}
{{- end }}

{{/*
Refuse a vLLM image on the accelerators of another family (the CUDA build cannot drive AMD or
Intel GPUs, Gaudi, Ascend NPUs or TPUs; the ROCm build cannot drive NVIDIA GPUs), and an
accelerator build of vLLM on a pod without accelerators (it cannot start). `modelservice validate` says the
same at the values line (the rule ids in brackets).
*/}}
{{- define "modelservice.checkAcceleratorImage" -}}
{{- $data := include "modelservice.acceleratorData" . | fromYaml }}
{{- $image := include "modelservice.imageFamily" . }}
{{- $family := include "modelservice.acceleratorFamily" . }}
{{- $built := "" }}
{{- range $data.families }}
{{- if eq .name $image }}
{{- $built = .title }}
{{- end }}
{{- end }}
{{- if $image }}
{{- if and (not $family) (not .Values.vgpu.enabled) }}
{{- include "modelservice.fail" (list "gpu.count" "gpu-count-zero-gpu-image" (printf "gpu.count 0 with %s, a vLLM build for %s that cannot start without one: set gpu.count, or use a CPU build of vLLM as image.repository" .Values.image.repository $built)) }}
{{- end }}
{{- range $data.families }}
{{- if and (eq .name $family) (ne .name $image) }}
{{- include "modelservice.fail" (list "gpu.resourceName|image.repository" "gpu-image-accelerator-mismatch" (printf "gpu.resourceName %s is a resource of %s, and %s is vLLM's build for %s, which cannot drive them: set image.repository to %s, vLLM's build for %s" $.Values.gpu.resourceName .title $.Values.image.repository $built .image .title)) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
