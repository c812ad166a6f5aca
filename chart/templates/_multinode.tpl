{{/*
Helpers of multi-node serving (multiNode.*, a LeaderWorkerSet group per model replica) and of
the per-pod cache claims. LeaderWorkerSet gives every pod of a group LWS_LEADER_ADDRESS (the
leader's DNS name in the group's headless Service), LWS_GROUP_SIZE and LWS_WORKER_INDEX (0 on
the leader); Kubernetes expands $(VAR) in args from the container's environment.
*/}}

{{/*
Whether the release serves one model replica over a group of pods.
*/}}
{{- define "modelservice.multiNode" -}}
{{- if .Values.multiNode.enabled }}true{{ end }}
{{- end }}

{{/*
Name of the LeaderWorkerSet or the StatefulSet, cut to 40 characters: LeaderWorkerSet names a
group's worker StatefulSet "<name>-<group>" and its pods "<name>-<group>-<worker>" (a pod
name is its hostname, a 63-character DNS label), and the StatefulSet controller labels the
pods with "<statefulset>-<revision hash of about 10 characters>" (a 63-character label
value): 40 leaves room for thousands of groups or replicas.
*/}}
{{- define "modelservice.groupName" -}}
{{- regexReplaceAll "-+$" (include "modelservice.fullname" . | trunc 40) "" }}
{{- end }}

{{/*
Whether each pod gets its own cache claim from a claim template (persistence.perPod) rather
than mounting one claim: the LeaderWorkerSet's with multiNode, else a StatefulSet's (which then
runs the replicas instead of the Deployment).
*/}}
{{- define "modelservice.cachePerPod" -}}
{{- if and .Values.persistence.enabled .Values.persistence.perPod (not .Values.persistence.existingClaim) }}true{{ end }}
{{- end }}

{{/*
Refuse values whose keys the workload would drop without a word (`modelservice validate` says
the same at the line):
- persistence.perPod beside persistence.existingClaim: a claim per pod, or one claim every pod
  mounts; the existing claim would win;
- strategy while a StatefulSet (persistence.perPod) or a LeaderWorkerSet (multiNode) runs the
  replicas: strategy is a Deployment's field.
*/}}
{{- define "modelservice.checkWorkload" -}}
{{- if and .Values.persistence.perPod .Values.persistence.existingClaim }}
{{- include "modelservice.fail" (list "persistence.perPod|persistence.existingClaim" "persistence-per-pod-with-existing-claim" (printf "persistence.perPod gives every pod a claim of its own, and persistence.existingClaim %s is one claim every pod mounts: the chart would mount %s and drop perPod; keep one of them" .Values.persistence.existingClaim .Values.persistence.existingClaim)) }}
{{- end }}
{{- if .Values.strategy }}
{{- if include "modelservice.multiNode" . }}
{{- include "modelservice.fail" (list "strategy" "strategy-not-a-deployment" "strategy is a Deployment's field, and with multiNode a LeaderWorkerSet runs the groups (it rolls them by its own rolloutStrategy): the chart would drop it; remove strategy") }}
{{- else if include "modelservice.cachePerPod" . }}
{{- include "modelservice.fail" (list "strategy" "strategy-not-a-deployment" "strategy is a Deployment's field, and with persistence.perPod a StatefulSet runs the replicas (it replaces them one at a time, each keeping its claim): the chart would drop it; remove strategy") }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The cache claim template and its retention policy, for a LeaderWorkerSet's
leaderWorkerTemplate or a StatefulSet's spec: one claim per pod, "cache-<pod name>". The claims
hold downloaded weights: like the shared cache they outlive the release (and a scale-down,
so a replica that comes back finds its weights) unless keepOnUninstall is false.
*/}}
{{- define "modelservice.cacheClaimTemplates" -}}
volumeClaimTemplates:
  - metadata:
      name: cache
      {{- with .Values.persistence.annotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      accessModes:
        {{- toYaml .Values.persistence.accessModes | nindent 8 }}
      {{- if eq .Values.persistence.storageClassName "-" }}
      storageClassName: ""
      {{- else if .Values.persistence.storageClassName }}
      storageClassName: {{ .Values.persistence.storageClassName | quote }}
      {{- end }}
      resources:
        requests:
          storage: {{ .Values.persistence.size | quote }}
{{- $policy := "Delete" }}
{{- if .Values.persistence.keepOnUninstall }}{{ $policy = "Retain" }}{{ end }}
persistentVolumeClaimRetentionPolicy:
  whenDeleted: {{ $policy }}
  whenScaled: {{ $policy }}
{{- end }}

{{/*
Flags of `vllm serve` on the leader and the workers of a group, after the chart's own flags
and before engine.args. The multiprocessing backend (vLLM's own) spans the nodes with
--nnodes/--node-rank, every rank connecting to the leader (--master-addr); a worker runs
--headless, with no API server. The Ray backend needs only --distributed-executor-backend ray
on the leader: vLLM places its workers on the Ray cluster the group forms.
*/}}
{{- define "modelservice.multiNodeArgs" -}}
{{- if eq .Values.multiNode.backend "ray" }}
- --distributed-executor-backend
- ray
{{- else }}
- --nnodes
- {{ int .Values.multiNode.nodes | quote }}
- --node-rank
- $(LWS_WORKER_INDEX)
- --master-addr
- $(LWS_LEADER_ADDRESS)
- --master-port
- {{ int .Values.multiNode.masterPort | quote }}
{{- if eq .role "worker" }}
- --headless
{{- end }}
{{- end }}
{{- end }}

{{/*
Refuse a group whose leader would bind one port twice: the API server listens on engine.port,
and the leader also binds multiNode.masterPort (the mp backend's rendezvous) or the Ray head's
ports (multiNode.ray.port, and 10001, where `ray start --head` starts the Ray client server).
*/}}
{{- define "modelservice.checkMultiNodePorts" -}}
{{- $api := int .Values.engine.port }}
{{- if eq .Values.multiNode.backend "ray" }}
{{- $ray := int .Values.multiNode.ray.port }}
{{- if eq $ray $api }}
{{- include "modelservice.fail" (list "multiNode.ray.port|engine.port" "multi-node-port-conflict" (printf "multiNode.ray.port %d is engine.port too: the leader's Ray head and its API server would both bind port %d, and the second fails; give the Ray head another port (6379 is Ray's default)" $ray $api)) }}
{{- else if eq $api 10001 }}
{{- include "modelservice.fail" (list "engine.port" "multi-node-port-conflict" "engine.port 10001 is where `ray start --head` starts the Ray client server on the leader, before vLLM's API server binds it: give engine.port another port (8000 is vLLM's default)") }}
{{- end }}
{{- else if eq (int .Values.multiNode.masterPort) $api }}
{{- include "modelservice.fail" (list "multiNode.masterPort|engine.port" "multi-node-port-conflict" (printf "multiNode.masterPort %d is engine.port too: the leader's API server and the rendezvous the workers connect to (--master-port) would both bind port %d; give multiNode.masterPort another port (29500 is torch's default)" $api $api)) }}
{{- end }}
{{- end }}

{{/*
Environment of the server container on the pods of a group: the network interface NCCL and
Gloo use between nodes, when one is named (their guess can pick an interface the other node
cannot reach), and NCCL's log level.
*/}}
{{- define "modelservice.multiNodeEnv" -}}
{{- with .Values.multiNode.network.socketInterface }}
- name: NCCL_SOCKET_IFNAME
  value: {{ . | quote }}
- name: GLOO_SOCKET_IFNAME
  value: {{ . | quote }}
{{- end }}
{{- with .Values.multiNode.network.ncclDebug }}
- name: NCCL_DEBUG
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/*
The Ray leader: start the Ray head, then replace the shell with `vllm serve` and its
arguments ("$@": the command's remaining items and the container's args, never re-parsed by
the shell). vLLM waits for the workers' GPUs to join the cluster (up to 30 minutes) before it
loads the model.
*/}}
{{- define "modelservice.rayHeadScript" -}}
{{- printf "ray start --head --port=%d --disable-usage-stats && exec \"$@\"" (int .Values.multiNode.ray.port) }}
{{- end }}

{{/*
A Ray worker: wait until the leader's Ray head answers, then join it and stay in the
foreground. If the head goes away the process exits, the container restarts, and
LeaderWorkerSet recreates the whole group.
*/}}
{{- define "modelservice.rayWorkerScript" -}}
{{- $head := printf "$LWS_LEADER_ADDRESS:%d" (int .Values.multiNode.ray.port) }}
{{- printf "until ray health-check --address=\"%s\" >/dev/null 2>&1; do echo waiting for the Ray head at %s; sleep 5; done; exec ray start --address=\"%s\" --block --disable-usage-stats" $head $head $head }}
{{- end }}

{{/*
Affinity of a pod: the user's `affinity`, and for the pods of a group with
multiNode.topologyKey a required pod affinity that keeps the group in one topology domain
(a rack, a zone): every pod must land where the pods of its own group are (matchLabelKeys on
the group key LeaderWorkerSet puts on every pod of a group). The leader is placed first; its
workers follow it.
*/}}
{{- define "modelservice.affinity" -}}
{{- $affinity := deepCopy (.Values.affinity | default dict) }}
{{- if and (ne (.role | default "server") "server") .Values.multiNode.topologyKey }}
{{- $pod := get $affinity "podAffinity" | default dict }}
{{- $terms := get $pod "requiredDuringSchedulingIgnoredDuringExecution" | default list }}
{{- $term := dict "topologyKey" .Values.multiNode.topologyKey "labelSelector" (dict "matchLabels" (include "modelservice.selectorLabels" . | fromYaml)) "matchLabelKeys" (list "leaderworkerset.sigs.k8s.io/group-key") }}
{{- $_ := set $pod "requiredDuringSchedulingIgnoredDuringExecution" (append $terms $term) }}
{{- $_ = set $affinity "podAffinity" $pod }}
{{- end }}
{{- with $affinity }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/*
NOTES.txt: how to watch a group come up.
*/}}
{{- define "modelservice.notes.multiNode" -}}
{{- $svc := include "modelservice.groupName" . }}
{{- $ns := .Release.Namespace }}
{{- $groups := printf "%d group(s)" (int .Values.replicaCount) }}
{{- if .Values.autoscaling.enabled }}{{ $groups = "as many groups as the autoscaler sets" }}{{ end }}

The model runs over groups of {{ int .Values.multiNode.nodes }} pods (LeaderWorkerSet {{ $svc }}, {{ $groups }}),
each pod with {{ int .Values.gpu.count }} GPU(s), vLLM's {{ eq .Values.multiNode.backend "ray" | ternary "Ray" "multiprocessing (mp)" }} backend. The leader of each group
serves the API; if any pod of a group restarts, the whole group is recreated.
Watch the groups come up (pod <name>-<group> is a leader, <name>-<group>-<n> its workers):
  kubectl get leaderworkerset {{ $svc }} -n {{ $ns }}
  kubectl get pods -n {{ $ns }} -l leaderworkerset.sigs.k8s.io/name={{ $svc }} -L leaderworkerset.sigs.k8s.io/worker-index -w
{{- if include "modelservice.downloads" . }}
Every pod downloads the model into its cache first (init container "download"):
  kubectl logs -f {{ $svc }}-0 -c download -n {{ $ns }}
{{- end }}
Follow the leader of group 0{{ with .Values.probes.startup }}{{ if .enabled }} (its startup probe allows {{ mul (int .periodSeconds) (int .failureThreshold) }} s to load the model){{ end }}{{ end }} and a worker:
  kubectl logs -f {{ $svc }}-0 -c vllm -n {{ $ns }}
  kubectl logs -f {{ $svc }}-0-1 -c vllm -n {{ $ns }}
{{- end }}
