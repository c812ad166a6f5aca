{{/*
The pod template of the model server: one source for every workload that runs it, the
Deployment (role "server") and the leader and the workers of a LeaderWorkerSet group (roles
"leader" and "worker", with multiNode.enabled). It renders the `metadata` and `spec` of a
PodTemplateSpec at column 0; the caller indents it. The argument is the root context plus the
role, as a dict (every helper that takes the root context takes it too):
  include "modelservice.podTemplate" (dict "Values" .Values "Release" .Release "Chart" .Chart "Capabilities" .Capabilities "Template" .Template "Files" .Files "role" "leader")
Only what differs between the roles is branched on here:
- the command line: a leader and a worker of the multiprocessing backend add --nnodes,
  --node-rank and --master-addr (the worker also --headless, it serves no API); the Ray
  leader starts the Ray head before `vllm serve`, a Ray worker only joins it;
- the API port and the probes: on the server and the leader only. A worker has no endpoint
  that says more than its process does: when the process exits, the container restarts and
  LeaderWorkerSet recreates the whole group (RecreateGroupOnPodRestart);
The cache volume is not listed with a claim per pod (persistence.perPod): the claim template
of the LeaderWorkerSet or the StatefulSet provides it.
*/}}
{{- define "modelservice.podTemplate" -}}
{{- $role := .role | default "server" }}
{{- $ray := and (ne $role "server") (eq .Values.multiNode.backend "ray") }}
{{- $model := include "modelservice.model" . }}
{{- $tp := include "modelservice.tensorParallelSize" . }}
{{- $gpuResources := include "modelservice.gpuResources" . | fromYaml }}
metadata:
  {{- with .Values.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- /* The selector labels and the user's podLabels only: a change of the pod template
         is a rollout (a model reload), and helm.sh/chart or app.kubernetes.io/version
         here would restart every pod on a chart upgrade that changes nothing in it. */}}
  labels:
    {{- include "modelservice.selectorLabels" . | nindent 4 }}
    {{- /* The pool's label on the pods that serve the API (_routing.tpl): a pod template
           change, so turning routing on or off is a rollout. */}}
    {{- with include "modelservice.poolPodLabel" . }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  serviceAccountName: {{ include "modelservice.serviceAccountName" . | quote }}
  automountServiceAccountToken: {{ .Values.serviceAccount.automountToken }}
  {{- /* No service links: the kubelet would put <SERVICE>_PORT=tcp://IP:PORT for every Service
         of the namespace into the environment, and a Service named `vllm` (this release with
         fullnameOverride: vllm, or any other) makes that VLLM_PORT, which vLLM reads as its
         own port setting and refuses: the server exits and the pod crash-loops. Cluster DNS
         names the Services; nothing here reads those variables. */}}
  enableServiceLinks: false
  {{- with include "modelservice.runtimeClassName" . }}
  runtimeClassName: {{ . | quote }}
  {{- end }}
  {{- if .Values.schedulerName }}
  schedulerName: {{ .Values.schedulerName | quote }}
  {{- else if and .Values.vgpu.enabled (eq .Values.vgpu.provider "volcano") (include "modelservice.usesGPU" .) }}
  schedulerName: volcano
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . | quote }}
  {{- end }}
  {{- with .Values.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  terminationGracePeriodSeconds: {{ int .Values.terminationGracePeriodSeconds }}
  {{- $pulls := eq (include "modelservice.ociMode" .) "pull" }}
  {{- if or $pulls (include "modelservice.downloads" .) }}
  initContainers:
    {{- if $pulls }}
    {{- include "modelservice.ociPuller" . | nindent 4 }}
    {{- end }}
    {{- if include "modelservice.downloads" . }}
    - name: download
      image: {{ include "modelservice.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      {{- /* bash runs the downloads listed in args, each with retries (_download.tpl). */}}
      command:
        - bash
        - -ec
        - |
          {{- include "modelservice.downloadScript" . | nindent 10 }}
        - download
      args:
        {{- include "modelservice.downloadArgs" . | trim | nindent 8 }}
      env:
        {{- include "modelservice.downloadEnv" . | trim | nindent 8 }}
        {{- include "modelservice.env" . | trim | nindent 8 }}
      {{- with .Values.envFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.securityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        {{- include "modelservice.volumeMounts" . | trim | nindent 8 }}
    {{- end }}
  {{- end }}
  containers:
    - name: vllm
      image: {{ include "modelservice.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      {{- if and $ray (eq $role "worker") }}
      command:
        - /bin/sh
        - -c
        - {{ include "modelservice.rayWorkerScript" . | quote }}
      {{- else }}
      command:
        {{- if $ray }}
        - /bin/sh
        - -c
        - {{ include "modelservice.rayHeadScript" . | quote }}
        - ray-head
        {{- end }}
        - vllm
        - serve
      args:
        - {{ $model | quote }}
        - --served-model-name
        - {{ include "modelservice.servedModelName" . | quote }}
        {{- if and (include "modelservice.isHub" .) .Values.model.revision }}
        - --revision
        - {{ .Values.model.revision | quote }}
        {{- end }}
        - --port
        - {{ int .Values.engine.port | quote }}
        - --tensor-parallel-size
        - {{ $tp | quote }}
        {{- with .Values.model.tokenizer.name }}
        - --tokenizer
        - {{ . | quote }}
        {{- with $.Values.model.tokenizer.revision }}
        - --tokenizer-revision
        - {{ . | quote }}
        {{- end }}
        {{- end }}
        {{- with include "modelservice.speculativeConfig" . }}
        - --speculative-config
        - {{ . | quote }}
        {{- end }}
        {{- with include "modelservice.loaderArgs" . | trim }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- if .Values.sleepMode.enabled }}
        - --enable-sleep-mode
        {{- end }}
        {{- if include "modelservice.loraEnabled" . }}
        - --enable-lora
        - --max-loras
        - {{ int .Values.lora.maxLoras | quote }}
        - --max-lora-rank
        - {{ int .Values.lora.maxRank | quote }}
        {{- with .Values.lora.adapters }}
        - --lora-modules
        {{- include "modelservice.loraModules" $ | trim | nindent 8 }}
        {{- end }}
        {{- end }}
        {{- if ne $role "worker" }}
        {{- with include "modelservice.kvEventsArgs" . }}
        {{- . | trim | nindent 8 }}
        {{- end }}
        {{- end }}
        {{- if ne $role "server" }}
        {{- include "modelservice.multiNodeArgs" . | trim | nindent 8 }}
        {{- end }}
        {{- range .Values.engine.args }}
        - {{ . | quote }}
        {{- end }}
      {{- end }}
      env:
        {{- if or (include "modelservice.downloadsModel" .) (include "modelservice.isOCI" .) }}
        {{- /* The init container filled the cache (or the model is an image volume): the
               server never reaches for the hub. vLLM reads HF_HUB_OFFLINE for ModelScope too
               (local_files_only). */}}
        - name: HF_HUB_OFFLINE
          value: "1"
        {{- end }}
        {{- if .Values.sleepMode.enabled }}
        {{- /* /sleep, /wake_up, /is_sleeping exist only in vLLM's development mode, which
               also serves /collective_rpc, /reset_prefix_cache and others: the NetworkPolicy
               and the routes fence them (sleepMode). */}}
        - name: VLLM_SERVER_DEV_MODE
          value: "1"
        {{- end }}
        {{- if .Values.lora.runtimeUpdates }}
        {{- /* /v1/load_lora_adapter and /v1/unload_lora_adapter: see lora.runtimeUpdates. */}}
        - name: VLLM_ALLOW_RUNTIME_LORA_UPDATING
          value: "True"
        {{- end }}
        {{- if and (ne $role "worker") (include "modelservice.kvEvents" .) }}
        {{- /* The topic of the KV events names the pod by its IP (--kv-events-config). */}}
        - name: POD_IP
          valueFrom:
            fieldRef:
              fieldPath: status.podIP
        {{- end }}
        {{- with include "modelservice.apiKeySecretName" . }}
        - name: VLLM_API_KEY
          valueFrom:
            secretKeyRef:
              name: {{ . | quote }}
              key: {{ include "modelservice.apiKeySecretKey" $ | quote }}
        {{- end }}
        {{- if ne $role "server" }}
        {{- with include "modelservice.multiNodeEnv" . }}
        {{- . | trim | nindent 8 }}
        {{- end }}
        {{- end }}
        {{- include "modelservice.env" . | trim | nindent 8 }}
      {{- with .Values.envFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if ne $role "worker" }}
      ports:
        - name: http
          containerPort: {{ int .Values.engine.port }}
          protocol: TCP
      {{- with .Values.probes.startup }}
      {{- if .enabled }}
      startupProbe:
        httpGet:
          path: /health
          port: http
        {{- include "modelservice.probeTimings" . | nindent 8 }}
        {{- /* Kubernetes requires 1 on startup and liveness probes (the schema says so). */}}
        successThreshold: 1
      {{- end }}
      {{- end }}
      {{- with .Values.probes.readiness }}
      {{- if .enabled }}
      readinessProbe:
        httpGet:
          path: /health
          port: http
        {{- include "modelservice.probeTimings" . | nindent 8 }}
        successThreshold: {{ int (.successThreshold | default 1) }}
      {{- end }}
      {{- end }}
      {{- with .Values.probes.liveness }}
      {{- if .enabled }}
      livenessProbe:
        httpGet:
          path: /health
          port: http
        {{- include "modelservice.probeTimings" . | nindent 8 }}
        successThreshold: 1
      {{- end }}
      {{- end }}
      {{- end }}
      {{- $requests := deepCopy (.Values.resources.requests | default dict) }}
      {{- $limits := deepCopy (.Values.resources.limits | default dict) }}
      {{- $limits = merge $gpuResources $limits }}
      {{- if or $requests $limits .Values.resources.claims }}
      resources:
        {{- with $requests }}
        requests:
          {{- toYaml . | nindent 10 }}
        {{- end }}
        {{- with $limits }}
        limits:
          {{- toYaml . | nindent 10 }}
        {{- end }}
        {{- with .Values.resources.claims }}
        claims:
          {{- toYaml . | nindent 10 }}
        {{- end }}
      {{- end }}
      {{- with .Values.securityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        {{- include "modelservice.volumeMounts" . | trim | nindent 8 }}
        {{- if eq (include "modelservice.ociMode" .) "imageVolume" }}
        - name: oci-model
          mountPath: {{ include "modelservice.ociMountPath" . | quote }}
          {{- with trimAll "/" .Values.model.oci.subPath }}
          subPath: {{ . | quote }}
          {{- end }}
          readOnly: true
        {{- end }}
  volumes:
    {{- if not (include "modelservice.cachePerPod" .) }}
    - name: cache
      {{- if .Values.persistence.enabled }}
      persistentVolumeClaim:
        claimName: {{ include "modelservice.cacheClaimName" . | quote }}
      {{- else }}
      emptyDir: {}
      {{- end }}
    {{- end }}
    {{- if .Values.shm.enabled }}
    - name: dshm
      emptyDir:
        medium: Memory
        {{- with .Values.shm.sizeLimit }}
        sizeLimit: {{ . | quote }}
        {{- end }}
    {{- end }}
    {{- if eq (include "modelservice.ociMode" .) "imageVolume" }}
    {{- /* The kubelet pulls the image (with the pod's imagePullSecrets) and mounts it
           read-only: Kubernetes 1.35 or later, with the ImageVolume feature gate. A 1.34 API
           server drops the volume and its mount without a word, so `check` refuses it there. */}}
    - name: oci-model
      image:
        reference: {{ include "modelservice.ociReference" . | quote }}
        pullPolicy: {{ .Values.model.oci.pullPolicy }}
    {{- end }}
    {{- if and $pulls (include "modelservice.ociPullSecret" .) }}
    - name: registry-auth
      secret:
        secretName: {{ include "modelservice.ociPullSecret" . | quote }}
        items:
          - key: .dockerconfigjson
            path: .dockerconfigjson
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with include "modelservice.affinity" . }}
  affinity:
    {{- . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
