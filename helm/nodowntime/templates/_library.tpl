{{/*
The library: named templates that put nodowntime into any Deployment,
StatefulSet or other pod template. Each takes the chart's root context (.).
From this chart they read .Values; from a parent chart that has nodowntime as
a dependency they read .Values.nodowntime (the dependency's values, defaults
included), so a parent chart writes:

  spec:
    template:
      metadata:
        annotations:
          {{- include "nodowntime.podAnnotations" . | nindent 8 }}
      spec:
        terminationGracePeriodSeconds: {{ include "nodowntime.gracePeriodSeconds" . }}
        securityContext:
          {{- include "nodowntime.podSecurityContext" . | nindent 10 }}
        initContainers:                     # sidecar.native: true (default)
          {{- include "nodowntime.sidecar" . | nindent 10 }}
        containers:
          - name: web
            image: ...
            {{- include "nodowntime.appLifecycle" . | nindent 12 }}
            volumeMounts:
              {{- include "nodowntime.appVolumeMounts" . | nindent 14 }}
        volumes:
          {{- include "nodowntime.volumes" . | nindent 10 }}

and one template file with {{ include "nodowntime.configMap" . }} (and, for
networkPolicy.enabled, {{ include "nodowntime.networkPolicy" . }}). With
kubernetes.enabled (the default) also {{ include "nodowntime.rbac" . }} in a
template file and, in the pod spec,
  serviceAccountName: {{ include "nodowntime.serviceAccountName" . }}
  automountServiceAccountToken: false
docs/DEPLOYING.md walks through it.

Fixed paths: the shared emptyDir is mounted at /run/nodowntime in both
containers (control socket, state file, the hook copied there by the agent);
the app's preStop execs /run/nodowntime/nodowntime-hook.
*/}}

{{/* the values of nodowntime, from this chart or from a parent's */}}
{{- define "nodowntime.valuesYaml" -}}
{{- if kindIs "map" .Values.nodowntime -}}
{{- toYaml .Values.nodowntime -}}
{{- else -}}
{{- toYaml .Values -}}
{{- end -}}
{{- end -}}

{{- define "nodowntime.configName" -}}
{{- printf "%s-nodowntime" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
nodowntime.gracePeriodSeconds: terminationGracePeriodSeconds =
drain.delay + drain.max_wait + drain.shutdown_timeout (each rounded up to
seconds) + gracePeriod.marginSeconds, or gracePeriod.override when that is
not shorter. The same number goes to the agent as drain.grace_period.
*/}}
{{- define "nodowntime.gracePeriodSeconds" -}}
{{- $v := include "nodowntime.valuesYaml" . | fromYaml -}}
{{- $d := $v.config.drain -}}
{{- $need := add (include "nodowntime.durationSeconds" $d.delay | atoi) (include "nodowntime.durationSeconds" $d.max_wait | atoi) (include "nodowntime.durationSeconds" $d.shutdown_timeout | atoi) (int $v.gracePeriod.marginSeconds) -}}
{{- $over := int (default 0 $v.gracePeriod.override) -}}
{{- if and (gt $over 0) (lt $over $need) -}}
{{- fail (printf "nodowntime: gracePeriod.override %d is shorter than drain.delay + drain.max_wait + drain.shutdown_timeout + gracePeriod.marginSeconds = %d seconds" $over $need) -}}
{{- end -}}
{{- if gt $over 0 }}{{ $over }}{{ else }}{{ $need }}{{ end -}}
{{- end -}}

{{/*
nodowntime.prestopTimeoutSeconds: the hook's --timeout: the grace period
less shutdown_timeout, so the app always keeps its shutdown_timeout after
SIGTERM even when a drain cannot finish.
*/}}
{{- define "nodowntime.prestopTimeoutSeconds" -}}
{{- $v := include "nodowntime.valuesYaml" . | fromYaml -}}
{{- sub (include "nodowntime.gracePeriodSeconds" . | atoi) (include "nodowntime.durationSeconds" $v.config.drain.shutdown_timeout | atoi) -}}
{{- end -}}

{{/* nodowntime.config: the agent's nodowntime.yaml (DESIGN §3) */}}
{{- define "nodowntime.config" -}}
{{- $v := include "nodowntime.valuesYaml" . | fromYaml -}}
{{- $c := $v.config -}}
{{- $d := $c.drain -}}
{{- $drain := dict "delay" $d.delay "wait_for_connections" $d.wait_for_connections "max_wait" $d.max_wait "shutdown_timeout" $d.shutdown_timeout "grace_period" (printf "%ss" (include "nodowntime.gracePeriodSeconds" .)) -}}
{{- if $d.notify }}{{ $_ := set $drain "notify" $d.notify }}{{ end -}}
{{- if $d.quiet }}{{ $_ := set $drain "quiet" $d.quiet }}{{ end -}}
{{- if $d.min_delay }}{{ $_ := set $drain "min_delay" $d.min_delay }}{{ end -}}
{{- if $d.idle_timeout }}{{ $_ := set $drain "idle_timeout" $d.idle_timeout }}{{ end -}}
{{- $kube := dict "enabled" false -}}
{{- if $v.kubernetes.enabled -}}
{{- $kube = dict "enabled" true "service_account_dir" "/var/run/secrets/kubernetes.io/serviceaccount" -}}
{{- with $v.kubernetes.api }}{{ $_ := set $kube "api" . }}{{ end -}}
{{- $_ := set $drain "wait_for_endpoints" (ne (toString $d.wait_for_endpoints) "false") -}}
{{- end -}}
{{- $failOpen := int (dig "fail_open" "min_ready_percent" 0 $c) -}}
{{- if and (gt $failOpen 0) (not $v.kubernetes.enabled) -}}
{{- fail "nodowntime: config.fail_open.min_ready_percent needs kubernetes.enabled (it counts the Service's ready endpoints through the API)" -}}
{{- end -}}
{{- $checks := list -}}
{{- if $v.appCheck.enabled -}}
{{- if eq (int $v.app.port) 0 -}}
{{- fail "nodowntime: appCheck.enabled needs app.port (or set appCheck.enabled=false)" -}}
{{- end -}}
{{- $ac := $v.appCheck -}}
{{- $checks = append $checks (dict "name" "app" "http" (dict "url" (printf "http://127.0.0.1:%d%s" (int $v.app.port) $ac.path)) "affects" $ac.affects "interval" $ac.interval "timeout" $ac.timeout "rise" (int $ac.rise) "fall" (int $ac.fall)) -}}
{{- end -}}
{{- range $c.checks }}{{ $checks = append $checks . }}{{ end -}}
{{- $listen := $v.sidecar.listenAddress -}}
{{- if contains ":" $listen }}{{ $listen = printf "[%s]" (trimAll "[]" $listen) }}{{ end -}}
# nodowntime.yaml - rendered by the nodowntime Helm chart; check it with
#   nodowntime check-config -c nodowntime.yaml
# grace_period is the pod's terminationGracePeriodSeconds.
{{- $out := dict
    "listen" (printf "%s:%d" $listen (int $v.sidecar.port))
    "control_socket" "/run/nodowntime/nodowntime.sock"
    "state_file" "/run/nodowntime/state"
    "hook_install_path" "/run/nodowntime/nodowntime-hook"
    "log" $c.log
    "server" $c.server
    "app" (dict "port" (int $v.app.port))
    "drain" $drain
    "kubernetes" $kube
    "checks" $checks -}}
{{- if gt $failOpen 0 }}{{ $_ := set $out "fail_open" (dict "min_ready_percent" $failOpen) }}{{ end }}
{{- with $v.agentCheck }}{{ if .port }}
{{- if or (eq (int .port) (int $v.sidecar.port)) (eq (int .port) (int $v.app.port)) -}}
{{- fail (printf "nodowntime: agentCheck.port %d is taken (sidecar.port %d, app.port %d): give the agent-check a port of its own" (int .port) (int $v.sidecar.port) (int $v.app.port)) -}}
{{- end -}}
{{- $_ := set $out "agent_check" (dict "listen" (printf "%s:%d" $listen (int .port)) "warn_weight" .warnWeight) }}
{{- end }}{{ end }}
{{ $out | toYaml }}
{{- end -}}

{{/* nodowntime.configMap: the ConfigMap object holding the agent's config */}}
{{- define "nodowntime.configMap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "nodowntime.configName" . }}
  labels:
    app.kubernetes.io/component: nodowntime
    app.kubernetes.io/instance: {{ .Release.Name }}
    app.kubernetes.io/managed-by: {{ .Release.Service }}
data:
  nodowntime.yaml: |
    {{- include "nodowntime.config" . | nindent 4 }}
{{- end -}}

{{/* nodowntime.podAnnotations: a config change rolls the pods */}}
{{- define "nodowntime.podAnnotations" -}}
checksum/nodowntime-config: {{ include "nodowntime.config" . | sha256sum }}
{{- end -}}

{{/*
nodowntime.sidecar: the agent container, one list item. With sidecar.native
(default) it belongs in initContainers (restartPolicy: Always); otherwise in
containers.
*/}}
{{- define "nodowntime.sidecar" -}}
{{- $v := include "nodowntime.valuesYaml" . | fromYaml -}}
{{- $s := $v.sidecar -}}
{{- if and $s.native (semverCompare "<1.29.0-0" .Capabilities.KubeVersion.Version) -}}
{{- fail (printf "nodowntime: sidecar.native needs Kubernetes >= 1.29 (this is %s): set sidecar.native=false" .Capabilities.KubeVersion.Version) -}}
{{- end -}}
- name: {{ $s.name }}
  image: {{ include "nodowntime.image" (list $v.image (index .Subcharts "nodowntime" | default . ).Chart.AppVersion) | quote }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  {{- if $s.native }}
  # a native sidecar: starts before the app (its startupProbe gates the
  # app's start), is stopped after the app has exited
  restartPolicy: Always
  {{- end }}
  args: ["run", "-c", "/etc/nodowntime/nodowntime.yaml"]
  ports:
    - name: nodowntime
      containerPort: {{ int $s.port }}
      protocol: TCP
    {{- if ($v.agentCheck).port }}
    # HAProxy's agent-check (agent-port)
    - name: agent-check
      containerPort: {{ int $v.agentCheck.port }}
      protocol: TCP
    {{- end }}
  {{- $env := list -}}
  {{- if $v.kubernetes.enabled -}}
  {{- $own := list -}}
  {{- range $s.env }}{{ $own = append $own .name }}{{ end -}}
  {{- range $name, $path := dict "POD_NAME" "metadata.name" "POD_IP" "status.podIP" -}}
  {{- if not (has $name $own) -}}
  {{- $env = append $env (dict "name" $name "valueFrom" (dict "fieldRef" (dict "fieldPath" $path))) -}}
  {{- end -}}
  {{- end -}}
  {{- end -}}
  {{- range $s.env }}{{ $env = append $env . }}{{ end -}}
  {{- with $env }}
  env:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $s.envFrom }}
  envFrom:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  # the sidecar's own probes: the agent itself (/healthz), never /startup or
  # /live, which report the app
  startupProbe:
    httpGet:
      path: /healthz
      port: {{ int $s.port }}
    {{- toYaml $s.startupProbe | nindent 4 }}
  livenessProbe:
    httpGet:
      path: /healthz
      port: {{ int $s.port }}
    {{- toYaml $s.livenessProbe | nindent 4 }}
  resources:
    {{- toYaml $s.resources | nindent 4 }}
  securityContext:
    {{- include "nodowntime.withIds" (list $s.securityContext $v.ids "runAsUser" "runAsGroup") | nindent 4 }}
  terminationMessagePolicy: FallbackToLogsOnError
  volumeMounts:
    - name: nodowntime-run
      mountPath: /run/nodowntime
    - name: nodowntime-config
      mountPath: /etc/nodowntime
      readOnly: true
    {{- if $v.kubernetes.enabled }}
    # the API token, CA and namespace: this container only (the app's
    # containers get no token: automountServiceAccountToken: false)
    - name: nodowntime-kube-api
      mountPath: /var/run/secrets/kubernetes.io/serviceaccount
      readOnly: true
    {{- end }}
    {{- with $s.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/*
nodowntime.appLifecycle: keys of the app container: the preStop hook that
drains through the agent, and the readiness, liveness and startup probes on
the agent's /ready, /live and /startup (each can be turned off).
*/}}
{{- define "nodowntime.appLifecycle" -}}
{{- include "nodowntime.appLifecycleRaw" . | trim -}}
{{- end -}}

{{- define "nodowntime.appLifecycleRaw" -}}
{{- $v := include "nodowntime.valuesYaml" . | fromYaml -}}
{{- $port := int $v.sidecar.port -}}
{{- $p := $v.app.probes -}}
{{- if $v.app.preStop.enabled }}
lifecycle:
  preStop:
    exec:
      command:
        - /run/nodowntime/nodowntime-hook
        - prestop
        - --timeout
        - {{ printf "%ss" (include "nodowntime.prestopTimeoutSeconds" .) }}
{{- end }}
{{- range $kind, $path := dict "readiness" "/ready" "liveness" "/live" "startup" "/startup" }}
{{- $probe := get $p $kind }}
{{- if $probe.enabled }}
{{ $kind }}Probe:
  httpGet:
    path: {{ $path }}
    port: {{ $port }}
  {{- toYaml (omit $probe "enabled") | nindent 2 }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
nodowntime.withIds: a securityContext with the ids of the ids value added,
as YAML. Argument: (list SECURITY-CONTEXT IDS KEY...). An id that is null or
"" is left out (the platform assigns it); a key the securityContext has
already wins.
*/}}
{{- define "nodowntime.withIds" -}}
{{- $sc := deepCopy (index . 0 | default dict) -}}
{{- $ids := index . 1 | default dict -}}
{{- range $k := slice . 2 -}}
{{- $id := get $ids $k -}}
{{- if and (not (hasKey $sc $k)) (not (kindIs "invalid" $id)) (ne (toString $id) "") -}}
{{- $_ := set $sc $k (int $id) -}}
{{- end -}}
{{- end -}}
{{- toYaml $sc -}}
{{- end -}}

{{/*
nodowntime.podSecurityContext: the pod's securityContext (its keys):
workload.podSecurityContext with fsGroup from ids.fsGroup, so the app's
preStop hook can reach the agent's 0660 control socket.
*/}}
{{- define "nodowntime.podSecurityContext" -}}
{{- $v := include "nodowntime.valuesYaml" . | fromYaml -}}
{{- include "nodowntime.withIds" (list $v.workload.podSecurityContext $v.ids "fsGroup") -}}
{{- end -}}

{{/*
nodowntime.networkPolicy: with networkPolicy.enabled, a NetworkPolicy that
lets only the nodes (networkPolicy.nodeCIDRs: the kubelet's probes) and
Prometheus reach the agent's port, and every source reach the app's ports.
It selects the pod, so every port it does not list is closed.
*/}}
{{- define "nodowntime.networkPolicy" -}}
{{- $v := include "nodowntime.valuesYaml" . | fromYaml -}}
{{- $np := $v.networkPolicy -}}
{{- if $np.enabled -}}
{{- $agentPort := int $v.sidecar.port -}}
{{- if not $np.nodeCIDRs -}}
{{- fail "nodowntime: networkPolicy.enabled needs networkPolicy.nodeCIDRs, the nodes' addresses: the kubelet probes the agent's port from the node" -}}
{{- end -}}
{{- $sel := $np.podSelector -}}
{{- if not $sel -}}
{{- if kindIs "map" .Values.nodowntime -}}
{{- fail "nodowntime: networkPolicy.enabled in a library use needs networkPolicy.podSelector (the labels of your pods)" -}}
{{- end -}}
{{- $sel = dict "matchLabels" (include "nodowntime.selectorLabels" . | fromYaml) -}}
{{- end -}}
{{- $from := list -}}
{{- range $np.nodeCIDRs }}{{ $from = append $from (dict "ipBlock" (dict "cidr" .)) }}{{ end -}}
{{- range $np.prometheus }}{{ $from = append $from . }}{{ end -}}
{{- $appPorts := list -}}
{{- if $v.app.port }}{{ $appPorts = append $appPorts (dict "port" (int $v.app.port) "protocol" "TCP") }}{{ end -}}
{{- range $np.appPorts -}}
{{- $p := . -}}
{{- if not (kindIs "map" .) }}{{ $p = dict "port" (int .) "protocol" "TCP" }}{{ end -}}
{{- if eq (toString $p.port) (toString $agentPort) -}}
{{- fail (printf "nodowntime: networkPolicy.appPorts has the agent's port %d: it would be open to every source" $agentPort) -}}
{{- end -}}
{{- $appPorts = append $appPorts $p -}}
{{- end -}}
{{- if not $appPorts -}}
{{- fail "nodowntime: networkPolicy.enabled with app.port 0 needs networkPolicy.appPorts: the policy closes every port it does not list" -}}
{{- end -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "nodowntime.configName" . }}
  labels:
    app.kubernetes.io/component: nodowntime
    app.kubernetes.io/instance: {{ .Release.Name }}
    app.kubernetes.io/managed-by: {{ .Release.Service }}
spec:
  podSelector:
    {{- toYaml $sel | nindent 4 }}
  policyTypes: [Ingress]
  # the pod is selected: any ingress not allowed below is dropped
  ingress:
    # the agent's port: the nodes (the kubelet's probes) and Prometheus only
    - ports:
        - port: {{ $agentPort }}
          protocol: TCP
      from:
        {{- toYaml $from | nindent 8 }}
    # the app's ports: every source, as without a policy
    - ports:
        {{- toYaml $appPorts | nindent 8 }}
    {{- if ($v.agentCheck).port }}
    # HAProxy's agent-check: networkPolicy.agentCheckFrom, else every source
    - ports:
        - port: {{ int $v.agentCheck.port }}
          protocol: TCP
      {{- with $np.agentCheckFrom }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- with $np.extraIngress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}
{{- end -}}

{{/*
nodowntime.appCommand: with app.wrapCommand, the app container's command key:
the app's command under `nodowntime-hook wrap` (app.args follow it); nothing
otherwise.
*/}}
{{- define "nodowntime.appCommand" -}}
{{- $v := include "nodowntime.valuesYaml" . | fromYaml -}}
{{- with $v.app.wrapCommand -}}
{{- if $v.app.command -}}
{{- fail "nodowntime: app.wrapCommand replaces app.command (wrap runs it): set one of them" -}}
{{- end -}}
command:
  {{- toYaml (concat (list "/run/nodowntime/nodowntime-hook" "wrap" "--wait-timeout" ($v.app.wrapWaitTimeout | default "60s") "--") .) | nindent 2 }}
{{- end -}}
{{- end -}}

{{/*
nodowntime.hookInit: with app.wrapCommand in the classic layout
(sidecar.native: false), an init container that copies the hook into the
shared volume, so the app's command finds it (the sidecar starts with the
app there, not before it); nothing otherwise. Goes in initContainers.
*/}}
{{- define "nodowntime.hookInit" -}}
{{- $v := include "nodowntime.valuesYaml" . | fromYaml -}}
{{- if and $v.app.wrapCommand (not $v.sidecar.native) -}}
- name: {{ $v.sidecar.name }}-hook
  image: {{ include "nodowntime.image" (list $v.image (index .Subcharts "nodowntime" | default . ).Chart.AppVersion) | quote }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  command: ["cp", "/usr/local/bin/nodowntime-hook", "/run/nodowntime/nodowntime-hook"]
  resources:
    {{- toYaml $v.sidecar.resources | nindent 4 }}
  securityContext:
    {{- include "nodowntime.withIds" (list $v.sidecar.securityContext $v.ids "runAsUser" "runAsGroup") | nindent 4 }}
  volumeMounts:
    - name: nodowntime-run
      mountPath: /run/nodowntime
{{- end -}}
{{- end -}}

{{/* nodowntime.appVolumeMounts: the shared volume in the app container */}}
{{- define "nodowntime.appVolumeMounts" -}}
- name: nodowntime-run
  mountPath: /run/nodowntime
  readOnly: true
{{- end -}}

{{/* nodowntime.volumes: the pod's volumes for nodowntime */}}
{{- define "nodowntime.volumes" -}}
{{- $v := include "nodowntime.valuesYaml" . | fromYaml -}}
- name: nodowntime-run
  emptyDir:
    sizeLimit: 16Mi
- name: nodowntime-config
  configMap:
    name: {{ include "nodowntime.configName" . }}
{{- if $v.kubernetes.enabled }}
# what the kubelet's own kube-api-access volume holds, for the sidecar only;
# the kubelet rotates the token (the agent re-reads it before each request)
- name: nodowntime-kube-api
  projected:
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: 3607
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
      - downwardAPI:
          items:
            - path: namespace
              fieldRef:
                apiVersion: v1
                fieldPath: metadata.namespace
{{- end }}
{{- end -}}

{{/*
nodowntime.serviceAccountName: the pod's service account:
workload.serviceAccountName when set (the chart then creates none), else,
with kubernetes.enabled, the one nodowntime.rbac creates (the release's
fullname in the example workload, <release>-nodowntime in a library user's
chart), else "default" (so a pod spec that always includes it stays valid
with kubernetes.enabled: false).
*/}}
{{- define "nodowntime.serviceAccountName" -}}
{{- $v := include "nodowntime.valuesYaml" . | fromYaml -}}
{{- if $v.workload.serviceAccountName -}}
{{- $v.workload.serviceAccountName -}}
{{- else if $v.kubernetes.enabled -}}
{{- include "nodowntime.rbacName" . -}}
{{- else -}}
default
{{- end -}}
{{- end -}}

{{- define "nodowntime.rbacName" -}}
{{- if kindIs "map" .Values.nodowntime -}}
{{- include "nodowntime.configName" . -}}
{{- else -}}
{{- include "nodowntime.fullname" . -}}
{{- end -}}
{{- end -}}

{{/*
nodowntime.rbac: with kubernetes.enabled, the agent's API access: a
ServiceAccount (unless workload.serviceAccountName names the user's own),
and, with kubernetes.rbac.create, a Role that can only read EndpointSlices
in the release's namespace, bound to that service account. Nothing else.
*/}}
{{- define "nodowntime.rbac" -}}
{{- $v := include "nodowntime.valuesYaml" . | fromYaml -}}
{{- if $v.kubernetes.enabled -}}
{{- $name := include "nodowntime.rbacName" . -}}
{{- $sa := include "nodowntime.serviceAccountName" . -}}
{{- $labels := dict "app.kubernetes.io/component" "nodowntime" "app.kubernetes.io/instance" .Release.Name "app.kubernetes.io/managed-by" .Release.Service -}}
{{- if not $v.workload.serviceAccountName }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $sa }}
  labels:
    {{- toYaml $labels | nindent 4 }}
# the token reaches the nodowntime sidecar only, through its projected volume
automountServiceAccountToken: false
{{- end }}
{{- if dig "rbac" "create" true $v.kubernetes }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $name }}
  labels:
    {{- toYaml $labels | nindent 4 }}
# the agent watches this pod's own EndpointSlices (drain.wait_for_endpoints,
# fail_open): read-only, in this namespace, nothing else
rules:
  - apiGroups: ["discovery.k8s.io"]
    resources: ["endpointslices"]
    verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $name }}
  labels:
    {{- toYaml $labels | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ $sa }}
    namespace: {{ .Release.Namespace }}
{{- end }}
{{- end -}}
{{- end -}}
