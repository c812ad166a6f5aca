{{/*
Helpers of a model from an OCI registry (model.source: oci): mounted as an image volume
(model.oci.mode: imageVolume), or pulled by digest into the cache by an init container that runs
ORAS (model.oci.mode: pull).
*/}}

{{/*
Whether the model comes from an OCI registry.
*/}}
{{- define "modelservice.isOCI" -}}
{{- if eq .Values.model.source "oci" }}true{{ end }}
{{- end }}

{{/*
The mode of an OCI model ("pull" or "imageVolume"); empty for the other sources.
*/}}
{{- define "modelservice.ociMode" -}}
{{- if include "modelservice.isOCI" . }}{{ .Values.model.oci.mode | default "pull" }}{{ end }}
{{- end }}

{{/*
model.oci.reference, failing with the key to set when it is empty.
*/}}
{{- define "modelservice.ociReference" -}}
{{- if not .Values.model.oci.reference }}
{{- include "modelservice.fail" (list "model.oci.reference|model.source" "model-oci-reference-required" "model.source oci needs model.oci.reference, the model's image or artifact such as registry.example.com/models/qwen@sha256:<digest> (modelservice push-model prints it)") }}
{{- end }}
{{- .Values.model.oci.reference }}
{{- end }}

{{/*
The parts of model.oci.reference as JSON: repository (registry and path, without tag or digest),
tag and digest (either may be empty). The tag follows the last ':' of the last path segment (a
registry's port is in the first).
*/}}
{{- define "modelservice.ociParts" -}}
{{- $ref := include "modelservice.ociReference" . }}
{{- $digest := "" }}
{{- if contains "@" $ref }}
{{- $digest = regexReplaceAll "^[^@]*@" $ref "" }}
{{- $ref = regexReplaceAll "@.*$" $ref "" }}
{{- end }}
{{- $tag := "" }}
{{- $last := base $ref }}
{{- if contains ":" $last }}
{{- $tag = regexReplaceAll "^.*:" $last "" }}
{{- $ref = trimSuffix (printf ":%s" $tag) $ref }}
{{- end }}
{{- dict "repository" $ref "tag" $tag "digest" $digest | toJson }}
{{- end }}

{{/*
Where the init container puts a pulled model: a folder of the cache named after the reference,
`<persistence.mountPath>/oci/<registry>/<repository>/<sha256-HEX or tag>` (a registry's ':' port
separator becomes '_'). One folder per reference: changing it pulls into a new folder, and a
pod rescheduled on the same cache finds the model there.
*/}}
{{- define "modelservice.ociPullDir" -}}
{{- $parts := include "modelservice.ociParts" . | fromJson }}
{{- $version := $parts.tag | default "latest" }}
{{- with $parts.digest }}
{{- $version = replace ":" "-" . }}
{{- end }}
{{- printf "%s/oci/%s/%s" (trimSuffix "/" .Values.persistence.mountPath) (replace ":" "_" $parts.repository) $version }}
{{- end }}

{{/*
Where an image volume is mounted in the server container.
*/}}
{{- define "modelservice.ociMountPath" -}}
/mnt/model
{{- end }}

{{/*
The folder the server serves: the pulled folder, or the image volume's mount (whose subPath the
kubelet applies); model.oci.subPath inside the pulled folder.
*/}}
{{- define "modelservice.ociModelPath" -}}
{{- if eq (include "modelservice.ociMode" .) "imageVolume" }}
{{- include "modelservice.ociMountPath" . }}
{{- else }}
{{- $dir := include "modelservice.ociPullDir" . }}
{{- with trimAll "/" .Values.model.oci.subPath }}
{{- $dir = printf "%s/%s" $dir . }}
{{- end }}
{{- $dir }}
{{- end }}
{{- end }}

{{/*
The name clients send by default for an OCI model: model.name, else the repository's last path
segment (`registry.example.com/models/qwen2.5-0.5b:v1` -> qwen2.5-0.5b).
*/}}
{{- define "modelservice.ociServedName" -}}
{{- if .Values.model.name }}
{{- .Values.model.name }}
{{- else }}
{{- $parts := include "modelservice.ociParts" . | fromJson }}
{{- base $parts.repository }}
{{- end }}
{{- end }}

{{/*
The Secret the puller reads registry credentials from: model.oci.pullSecret, else the first of
imagePullSecrets, else none.
*/}}
{{- define "modelservice.ociPullSecret" -}}
{{- if .Values.model.oci.pullSecret }}
{{- .Values.model.oci.pullSecret }}
{{- else if .Values.imagePullSecrets }}
{{- (first .Values.imagePullSecrets).name }}
{{- end }}
{{- end }}

{{/*
Where the puller finds the registry credentials (the Secret's `.dockerconfigjson`).
*/}}
{{- define "modelservice.ociRegistryConfigDir" -}}
/run/secrets/modelservice/registry
{{- end }}

{{/*
The puller image, pinned by digest when one is given.
*/}}
{{- define "modelservice.ociPullerImage" -}}
{{- $image := .Values.model.oci.puller.image }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository $image.tag }}
{{- end }}
{{- end }}

{{/*
Flags every ORAS call of the puller gets (words without spaces: the script splits them).
*/}}
{{- define "modelservice.ociPullFlags" -}}
{{- $flags := list }}
{{- if .Values.model.oci.plainHTTP }}
{{- $flags = append $flags "--plain-http" }}
{{- end }}
{{- if include "modelservice.ociPullSecret" . }}
{{- $flags = append $flags (printf "--registry-config=%s/.dockerconfigjson" (include "modelservice.ociRegistryConfigDir" .)) }}
{{- end }}
{{- join " " $flags }}
{{- end }}

{{/*
The Go template ORAS applies to the manifest it fetches by digest: one line per layer, its digest,
media type and file path (ModelPack's org.cncf.model.filepath, else the title ORAS and others
write).
*/}}
{{- define "modelservice.ociLayerTemplate" -}}
{{ `{{range .content.layers}}{{.digest}} {{.mediaType}} {{with .annotations}}{{or (index . "org.cncf.model.filepath") (index . "org.opencontainers.image.title") ""}}{{end}}{{"\n"}}{{end}}` }}
{{- end }}

{{/*
The script of the puller (POSIX sh: busybox in ORAS' image). Arguments: the reference and the
folder to fill. It resolves a tag to its digest (a digest is used as given), and fetches the
manifest and every layer BY DIGEST: ORAS checks each against its digest and fails on a
mismatch. Raw layers (ModelPack `*.raw`, files ORAS pushed) are written at their file path;
tar layers (ModelPack `*.tar`, KitOps ModelKits, an image's layers) are unpacked into the folder
as they stream; gzip-compressed ones too. Layers are fetched PULL_CONCURRENCY at a time. The
folder fills under a `.partial` name and takes its final name only when complete, with the
digest it holds in `.modelservice-digest`: a later start of the pod (or another pod on the same
cache) finds it and pulls nothing. When the registry does not answer and the folder holds the
tag's earlier pull, the pod starts from the cache (a digest reference never needs the registry
once pulled). Every ORAS call is tried PULL_ATTEMPTS times, waiting PULL_RETRY_DELAY seconds,
doubled after each failure.
*/}}
{{- define "modelservice.ociPullScript" -}}
ref="$1"
target="$2"
repo="${ref%@*}"
digest=""
case "$ref" in *@*) digest="${ref##*@}" ;; esac
case "${repo##*/}" in *:*) repo="${repo%:*}" ;; esac
log() { echo "pull-model: $*" >&2; }
attempt() {
  delay="$PULL_RETRY_DELAY"
  n=1
  until "$@"; do
    if [ "$n" -ge "$PULL_ATTEMPTS" ]; then
      return 1
    fi
    log "attempt $n of $* failed; next in ${delay}s"
    sleep "$delay"
    n=$((n + 1))
    delay=$((delay * 2))
  done
}
resolve() {
  resolved=$(oras resolve "$ref" $PULL_FLAGS) && [ -n "$resolved" ]
}
cached=""
if [ -f "$target/.modelservice-digest" ]; then
  cached=$(cat "$target/.modelservice-digest")
fi
if [ -z "$digest" ]; then
  if attempt resolve; then
    digest="$resolved"
  elif [ -n "$cached" ]; then
    log "the registry did not answer; the cache holds $repo@$cached from an earlier pull of $ref"
    exit 0
  else
    log "cannot resolve $ref"
    exit 1
  fi
fi
if [ "$cached" = "$digest" ]; then
  log "$repo@$digest is in the cache ($target)"
  exit 0
fi
partial="$target.partial"
rm -rf "$partial"
mkdir -p "$partial"
listing() {
  oras manifest fetch "$repo@$digest" $PULL_FLAGS --format go-template --template "$PULL_TEMPLATE" >"$partial/.layers"
}
if ! attempt listing; then
  log "cannot fetch the manifest of $repo@$digest"
  exit 1
fi
raw() {
  mkdir -p "$(dirname "$partial/$2")" && oras blob fetch "$repo@$1" $PULL_FLAGS --output "$partial/$2"
}
untar() {
  fifo="$partial/.fifo-${1#sha256:}"
  rm -f "$fifo"
  mkfifo "$fifo" || return 1
  oras blob fetch "$repo@$1" $PULL_FLAGS --output - >"$fifo" &
  fetching=$!
  tar -x $2 -f - -C "$partial" <"$fifo"
  unpacked=$?
  wait "$fetching"
  fetched=$?
  rm -f "$fifo"
  [ "$unpacked" -eq 0 ] && [ "$fetched" -eq 0 ]
}
layer() {
  case "$3" in
    /* | .. | ../* | */../* | */..) log "layer $1 names $3, outside the model folder"; return 1 ;;
  esac
  case "$2" in
    *+zstd) log "layer $1 is zstd-compressed ($2), which tar here cannot unpack"; return 1 ;;
    *.tar) attempt untar "$1" "" ;;
    *.tar+gzip | *.tar.gzip | *.tar.gz) attempt untar "$1" -z ;;
    *)
      if [ -n "$3" ]; then
        attempt raw "$1" "$3"
      else
        log "skipping layer $1 ($2): no file path"
      fi
      ;;
  esac
}
count=0
pids=""
failed=0
while read -r layer_digest media path; do
  [ -n "$layer_digest" ] || continue
  log "layer $layer_digest $media ${path:-}"
  layer "$layer_digest" "$media" "$path" &
  pids="$pids $!"
  count=$((count + 1))
  if [ "$count" -ge "$PULL_CONCURRENCY" ]; then
    for pid in $pids; do wait "$pid" || failed=1; done
    pids=""
    count=0
  fi
done <"$partial/.layers"
for pid in $pids; do wait "$pid" || failed=1; done
if [ "$failed" -ne 0 ]; then
  log "pulling $repo@$digest failed"
  exit 1
fi
rm -f "$partial/.layers"
printf '%s\n' "$digest" >"$partial/.modelservice-digest"
rm -rf "$target"
mv "$partial" "$target"
log "pulled $repo@$digest into $target"
{{- end }}

{{/*
Environment of the puller.
*/}}
{{- define "modelservice.ociPullEnv" -}}
- name: PULL_ATTEMPTS
  value: {{ int .Values.model.download.attempts | quote }}
- name: PULL_RETRY_DELAY
  value: {{ int .Values.model.download.retryDelaySeconds | quote }}
- name: PULL_CONCURRENCY
  value: "4"
- name: PULL_FLAGS
  value: {{ include "modelservice.ociPullFlags" . | quote }}
- name: PULL_TEMPLATE
  value: {{ include "modelservice.ociLayerTemplate" . | quote }}
{{- end }}

{{/*
The puller, an init container of its own (model.oci.mode: pull), before the hub downloads.
*/}}
{{- define "modelservice.ociPuller" -}}
- name: pull-model
  image: {{ include "modelservice.ociPullerImage" . | quote }}
  imagePullPolicy: {{ .Values.model.oci.puller.image.pullPolicy }}
  command:
    - /bin/sh
    - -c
    - |
      {{- include "modelservice.ociPullScript" . | nindent 6 }}
    - pull-model
  args:
    - {{ include "modelservice.ociReference" . | quote }}
    - {{ include "modelservice.ociPullDir" . | quote }}
  env:
    {{- include "modelservice.ociPullEnv" . | trim | nindent 4 }}
  {{- with .Values.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: cache
      mountPath: {{ .Values.persistence.mountPath | quote }}
    {{- if include "modelservice.ociPullSecret" . }}
    - name: registry-auth
      mountPath: {{ include "modelservice.ociRegistryConfigDir" . | quote }}
      readOnly: true
    {{- end }}
{{- end }}
