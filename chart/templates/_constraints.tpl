{{/*
A platform's constraints, baked into a derived chart by `modelservice bake` as
files/constraints.yaml (the base chart has none, and then nothing here acts). The baked
values.schema.json enforces what JSON Schema can say of single keys; these refusals enforce the
rest on what the release renders, so that plain `helm install` of the baked chart holds every
constraint for every pod and claim of the release: the server, its init container, the workers
of a multi-node group, the pool's endpoint picker and the `helm test` pod; the cache claim, the claims per pod and
ephemeral volumes. `modelservice validate --chart` reports each at its values line (the rule ids
in brackets are declared by modelservice.bake.constraints).

The objects are read by rendering the chart's own templates that hold pods or claims
(modelservice.constraintTemplates) through `include` of their file names, once, from
templates/constraints.yaml, which renders nothing itself.
*/}}

{{/*
The template files whose objects hold pod specs or claims (tests/test_bake.py checks that no
other template renders one).
*/}}
{{- define "modelservice.constraintTemplates" -}}
deployment.yaml statefulset.yaml leaderworkerset.yaml pvc.yaml tests/test-api.yaml epp-deployment.yaml
{{- end }}

{{/*
The rendered objects of those templates, as {"objects": [...]}.
*/}}
{{- define "modelservice.constraintObjects" -}}
{{- $objects := list }}
{{- range $file := splitList " " (include "modelservice.constraintTemplates" .) }}
{{- $text := include (printf "%s/%s" $.Template.BasePath $file) $ }}
{{- if trim $text }}
{{- $objects = append $objects ($text | fromYaml) }}
{{- end }}
{{- end }}
{{- toYaml (dict "objects" $objects) }}
{{- end }}

{{/*
The pod specs of the objects, as {"pods": [{spec, test, count, where}]}: `count` is how many
pods of that spec one model replica runs (a LeaderWorkerSet group's workers: size - 1).
*/}}
{{- define "modelservice.constraintPods" -}}
{{- $pods := list }}
{{- range $obj := index . "objects" }}
{{- if eq $obj.kind "Pod" }}
{{- $pods = append $pods (dict "spec" $obj.spec "test" true "count" 1 "where" (printf "the test pod %s" $obj.metadata.name)) }}
{{- else if and (eq $obj.kind "Deployment") (eq (dig "metadata" "labels" "app.kubernetes.io/component" "" $obj) "endpoint-picker") }}
{{- /* The pool's endpoint picker: no part of a model replica (count 0), its own keys. */}}
{{- $pods = append $pods (dict "spec" $obj.spec.template.spec "test" false "picker" true "count" 0 "where" (printf "the endpoint picker %s" $obj.metadata.name)) }}
{{- else if has $obj.kind (list "Deployment" "StatefulSet") }}
{{- $pods = append $pods (dict "spec" $obj.spec.template.spec "test" false "count" 1 "where" (printf "the pods of %s %s" $obj.kind $obj.metadata.name)) }}
{{- else if eq $obj.kind "LeaderWorkerSet" }}
{{- $group := $obj.spec.leaderWorkerTemplate }}
{{- $where := printf "LeaderWorkerSet %s" $obj.metadata.name }}
{{- $pods = append $pods (dict "spec" $group.leaderTemplate.spec "test" false "count" 1 "where" (printf "the leader of %s" $where)) }}
{{- $pods = append $pods (dict "spec" $group.workerTemplate.spec "test" false "count" (sub (int $group.size) 1) "where" (printf "the workers of %s" $where)) }}
{{- end }}
{{- end }}
{{- toYaml (dict "pods" $pods) }}
{{- end }}

{{/*
The claims of the objects, as {"claims": [{spec, key, where}]}: PersistentVolumeClaims, the
claim templates of a StatefulSet or LeaderWorkerSet, and ephemeral volumes.
*/}}
{{- define "modelservice.constraintClaims" -}}
{{- $claims := list }}
{{- range $obj := index . "objects" }}
{{- if eq $obj.kind "PersistentVolumeClaim" }}
{{- $claims = append $claims (dict "spec" $obj.spec "key" "persistence" "where" (printf "the claim %s" $obj.metadata.name)) }}
{{- end }}
{{- $templates := list }}
{{- if eq $obj.kind "StatefulSet" }}
{{- $templates = $obj.spec.volumeClaimTemplates | default list }}
{{- else if eq $obj.kind "LeaderWorkerSet" }}
{{- $templates = $obj.spec.leaderWorkerTemplate.volumeClaimTemplates | default list }}
{{- end }}
{{- range $templates }}
{{- $claims = append $claims (dict "spec" .spec "key" "persistence" "where" (printf "the claim template %s of %s %s" .metadata.name $obj.kind $obj.metadata.name)) }}
{{- end }}
{{- end }}
{{- range (include "modelservice.constraintPods" . | fromYaml).pods }}
{{- range .spec.volumes }}
{{- if .ephemeral }}
{{- $claims = append $claims (dict "spec" .ephemeral.volumeClaimTemplate.spec "key" "extraVolumes" "where" (printf "the ephemeral volume %s" .name)) }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml (dict "claims" $claims) }}
{{- end }}

{{/*
A Kubernetes quantity in bytes (a float), or -1 when it is not one.
*/}}
{{- define "modelservice.quantityBytes" -}}
{{- $text := toString . | trim }}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $text }}
{{- $units := dict "" 1.0 "m" 0.001 "k" 1000.0 "M" 1000000.0 "G" 1000000000.0 "T" 1000000000000.0 "P" 1000000000000000.0 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 }}
{{- $unit := trimPrefix $number $text }}
{{- if and $number (hasKey $units $unit) }}
{{- mulf (float64 $number) (get $units $unit) }}
{{- else }}
{{- -1 }}
{{- end }}
{{- end }}

{{/*
The repository of an image reference: its tag and digest cut off.
*/}}
{{- define "modelservice.imageRepository" -}}
{{- $ref := splitList "@" (toString .) | first }}
{{- $last := splitList "/" $ref | last }}
{{- if contains ":" $last }}
{{- printf "%s%s" (trimSuffix $last $ref) (splitList ":" $last | first) }}
{{- else }}
{{- $ref }}
{{- end }}
{{- end }}

{{/*
The accelerators a container takes: the sum of its resources (limits, else requests) whose
names are devices of an accelerator family (files/accelerators.yaml), the chart's own GPU
resource or a vGPU count. Argument: (list root container).
*/}}
{{- define "modelservice.containerDevices" -}}
{{- $root := index . 0 }}
{{- $resources := (index . 1).resources | default dict }}
{{- $patterns := list (printf "^%s$" (regexQuoteMeta $root.Values.gpu.resourceName)) "^volcano\\.sh/vgpu-number$" }}
{{- with ($root.Values.vgpu.resourceNames | default dict).count }}
{{- $patterns = append $patterns (printf "^%s$" (regexQuoteMeta .)) }}
{{- end }}
{{- range (include "modelservice.acceleratorData" $root | fromYaml).families }}
{{- $patterns = concat $patterns (.devices | default list) }}
{{- end }}
{{- $asked := merge (deepCopy ($resources.limits | default dict)) ($resources.requests | default dict) }}
{{- $total := 0 }}
{{- range $name, $value := $asked }}
{{- $device := false }}
{{- range $patterns }}
{{- if regexMatch . $name }}{{ $device = true }}{{ end }}
{{- end }}
{{- if $device }}
{{- $total = add $total (int $value) }}
{{- end }}
{{- end }}
{{- $total }}
{{- end }}

{{/*
The accelerators one pod takes, as the scheduler counts them: the app containers' sum, or the
largest init container's when that is more. Argument: (list root podSpec).
*/}}
{{- define "modelservice.podDevices" -}}
{{- $root := index . 0 }}
{{- $spec := index . 1 }}
{{- $app := 0 }}
{{- range $spec.containers }}
{{- $app = add $app (include "modelservice.containerDevices" (list $root .) | int) }}
{{- end }}
{{- $init := 0 }}
{{- range $spec.initContainers }}
{{- $init = max $init (include "modelservice.containerDevices" (list $root .) | int) }}
{{- end }}
{{- max $app $init }}
{{- end }}

{{/*
Refuse a release that breaks a constraint of files/constraints.yaml (see the top of this file).
*/}}
{{- define "modelservice.checkConstraints" -}}
{{- $c := .Files.Get "files/constraints.yaml" | fromYaml }}
{{- if $c }}
{{- $rendered := include "modelservice.constraintObjects" . | fromYaml }}
{{- $pods := (include "modelservice.constraintPods" $rendered | fromYaml).pods }}
{{- $platform := "the platform's constraint" }}

{{- with $c.allowedImageRepositories }}
{{- $allowed := . }}
{{- range $pod := $pods }}
{{- range concat ($pod.spec.initContainers | default list) ($pod.spec.containers | default list) }}
{{- $repository := include "modelservice.imageRepository" .image }}
{{- if not (has $repository $allowed) }}
{{- /* The key that names this container's image. */}}
{{- $key := ternary "tests.image.repository" "image.repository" $pod.test }}
{{- if and $pod.picker (eq (toString .name) "epp") }}
{{- $key = "routing.endpointPicker.image.repository" }}
{{- else if eq (toString .name) "pull-model" }}
{{- $key = "model.oci.puller.image.repository" }}
{{- end }}
{{- include "modelservice.fail" (list $key "constraint-image" (printf "%s allowedImageRepositories allows only %s, and the container %s of %s runs %s: set %s to one of them" $platform (join ", " $allowed) .name $pod.where $repository $key)) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{- if hasKey $c "maxGPUs" }}
{{- $most := int $c.maxGPUs }}
{{- $replica := 0 }}
{{- $parts := list }}
{{- range $pod := $pods }}
{{- $devices := include "modelservice.podDevices" (list $ $pod.spec) | int }}
{{- if $pod.test }}
{{- if gt $devices $most }}
{{- include "modelservice.fail" (list "tests.resources" "constraint-gpus" (printf "%s maxGPUs allows at most %d accelerators, and %s would take %d: remove them from tests.resources" $platform $most $pod.where $devices)) }}
{{- end }}
{{- else if gt (int $pod.count) 0 }}
{{- $replica = add $replica (mul $devices (int $pod.count)) }}
{{- $takers := list }}
{{- range concat ($pod.spec.initContainers | default list) ($pod.spec.containers | default list) }}
{{- $taken := include "modelservice.containerDevices" (list $ .) | int }}
{{- if gt $taken 0 }}
{{- $takers = append $takers (printf "%s %d" .name $taken) }}
{{- end }}
{{- end }}
{{- $parts = append $parts (printf "%s: %d x %d (%s)" $pod.where (int $pod.count) $devices (join ", " $takers)) }}
{{- end }}
{{- end }}
{{- if gt $replica $most }}
{{- include "modelservice.fail" (list "gpu.count|multiNode.nodes|resources" "constraint-gpus" (printf "%s maxGPUs allows at most %d accelerators per model replica, and one replica would take %d (%s): lower gpu.count or multiNode.nodes, and list no accelerator under resources" $platform $most $replica (join "; " $parts))) }}
{{- end }}
{{- end }}

{{- if or $c.allowedStorageClasses $c.maxClaimSize }}
{{- $most := -1.0 }}
{{- with $c.maxClaimSize }}
{{- $most = include "modelservice.quantityBytes" . | float64 }}
{{- end }}
{{- range (include "modelservice.constraintClaims" $rendered | fromYaml).claims }}
{{- $key := ternary "persistence.storageClassName" "extraVolumes" (eq .key "persistence") }}
{{- $class := toString (.spec.storageClassName | default "") }}
{{- if and $c.allowedStorageClasses (not (has $class $c.allowedStorageClasses)) }}
{{- $named := ternary "names no StorageClass (the cluster's default would provision it)" (printf "names StorageClass %s" $class) (eq $class "") }}
{{- include "modelservice.fail" (list $key "constraint-storage-class" (printf "%s allowedStorageClasses allows only %s, and %s %s: set its storageClassName to one of them" $platform (join ", " $c.allowedStorageClasses) .where $named)) }}
{{- end }}
{{- $size := dig "resources" "requests" "storage" "" .spec }}
{{- $bytes := include "modelservice.quantityBytes" $size | float64 }}
{{- if and (ge $most 0.0) (gt $bytes $most) }}
{{- $sizeKey := ternary "persistence.size" "extraVolumes" (eq .key "persistence") }}
{{- include "modelservice.fail" (list $sizeKey "constraint-claim-size" (printf "%s maxClaimSize allows claims of at most %s, and %s asks for %s: ask for %s or less" $platform $c.maxClaimSize .where $size $c.maxClaimSize)) }}
{{- end }}
{{- end }}
{{- end }}

{{- with $c.allowedRuntimeClasses }}
{{- $allowed := . }}
{{- range $pods }}
{{- with .spec.runtimeClassName }}
{{- if not (has . $allowed) }}
{{- include "modelservice.fail" (list "gpu.runtimeClassName" "constraint-runtime-class" (printf "%s allowedRuntimeClasses allows only %s, and the pods ask for RuntimeClass %s: set gpu.runtimeClassName to one of them" $platform (join ", " $allowed) .)) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{- if or $c.requiredNodeSelector $c.requireNodeSelector }}
{{- range $pod := $pods }}
{{- $selector := $pod.spec.nodeSelector | default dict }}
{{- $key := ternary "tests.nodeSelector|nodeSelector" "nodeSelector" $pod.test }}
{{- if $pod.picker }}
{{- $key = "routing.endpointPicker.nodeSelector" }}
{{- end }}
{{- range $label, $value := $c.requiredNodeSelector | default dict }}
{{- if ne (toString (get $selector $label)) (toString $value) }}
{{- include "modelservice.fail" (list $key "constraint-node-selector" (printf "%s requiredNodeSelector pins %s to %s, and the node selector of %s has %s: keep the platform's node label" $platform $label $value $pod.where (ternary "no such label" (printf "%s=%s" $label (get $selector $label)) (not (hasKey $selector $label))))) }}
{{- end }}
{{- end }}
{{- range $label := $c.requireNodeSelector | default list }}
{{- if not (get $selector $label) }}
{{- include "modelservice.fail" (list $key "constraint-node-selector" (printf "%s requireNodeSelector asks every pod to select the node label %s, and the node selector of %s lacks it: set it" $platform $label $pod.where)) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{- if $c.requireMirror }}
{{- if and (include "modelservice.usesModelscope" .) (not .Values.modelscope.endpoint) }}
{{- include "modelservice.fail" (list "modelscope.endpoint|model.source" "constraint-mirror" (printf "%s requireMirror asks every hub to be reached through a mirror, and this release reaches ModelScope directly: set modelscope.endpoint to the platform's ModelScope mirror" $platform)) }}
{{- end }}
{{- $mirrors := dict "HF_ENDPOINT" (.Values.huggingface.endpoint | default "") "MODELSCOPE_ENDPOINT" (.Values.modelscope.endpoint | default "" | trimSuffix "/") }}
{{- range $pod := $pods }}
{{- if not $pod.test }}
{{- range concat ($pod.spec.initContainers | default list) ($pod.spec.containers | default list) }}
{{- $container := . }}
{{- range $name, $mirror := $mirrors }}
{{- $seen := 0 }}
{{- $last := "" }}
{{- range $container.env | default list }}
{{- if eq .name $name }}
{{- $seen = add1 $seen }}
{{- $last = toString (.value | default "") }}
{{- end }}
{{- end }}
{{- if or (gt $seen 1) (and (eq $seen 1) (ne $last $mirror)) }}
{{- include "modelservice.fail" (list "env" "constraint-mirror" (printf "%s requireMirror sets %s from the platform's mirror, and env sets it again for the container %s of %s, where the last one wins: remove %s from env" $platform $name $container.name $pod.where $name)) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
