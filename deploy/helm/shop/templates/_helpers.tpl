{{/*
Names and labels, in the shape of the OpenTelemetry Collector and Grafana charts. Kubernetes
names are DNS labels: at most 63 characters, so every name is truncated there.
*/}}

{{- define "shop.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release-scoped base name. A release already named after the chart is not repeated
("shop", not "shop-shop").
*/}}
{{- define "shop.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "shop.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "shop.selectorLabels" -}}
app.kubernetes.io/name: {{ include "shop.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "shop.labels" -}}
helm.sh/chart: {{ include "shop.chart" . }}
{{ include "shop.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "shop.name" . }}
{{- end }}

{{/*
Every workload is a component of the release: order, inventory, pricing, postgres, collector...
These take (dict "ctx" $ "component" "postgres").
*/}}
{{- define "shop.componentName" -}}
{{- printf "%s-%s" (include "shop.fullname" .ctx | trunc (int (sub 62 (len .component))) | trimSuffix "-") .component }}
{{- end }}

{{- define "shop.componentSelectorLabels" -}}
{{ include "shop.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "shop.componentLabels" -}}
{{ include "shop.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The service account a service runs as: (dict "ctx" $ "component" "order" "service" $svc). */}}
{{- define "shop.serviceAccountName" -}}
{{- if .service.serviceAccount.create }}
{{- default (include "shop.componentName" .) .service.serviceAccount.name }}
{{- else }}
{{- default "default" .service.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag, with @digest appended when one is pinned. Takes (dict "image" $img "tag" $default). */}}
{{- define "shop.image" -}}
{{- $tag := .image.tag | default .tag | toString }}
{{- if .image.digest }}
{{- printf "%s:%s@%s" .image.repository $tag .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{/* The image of the three services, the migration Job and the helm test. */}}
{{- define "shop.serviceImage" -}}
{{- include "shop.image" (dict "image" .Values.image "tag" .Chart.AppVersion) }}
{{- end }}

{{/*
One service's settings: serviceDefaults overlaid with the service's own block, so a service
states only where it differs. Returns YAML; use with fromYaml.
Takes (dict "ctx" $ "service" $svc).
*/}}
{{- define "shop.serviceValues" -}}
{{- toYaml (mergeOverwrite (deepCopy .ctx.Values.serviceDefaults) (deepCopy .service)) }}
{{- end }}

{{/*
A secret value generated on first install and read back on every later render, so upgrades
never rotate it. `lookup` returns nothing under `helm template` and --dry-run: a fresh value is
rendered there, which is never applied. Takes (dict "ctx" $ "secret" name "key" key "length" n).
*/}}
{{- define "shop.generatedSecretValue" -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret }}
{{- if and $existing (hasKey ($existing.data | default dict) .key) }}
{{- index $existing.data .key | b64dec }}
{{- else }}
{{- randAlphaNum (int .length) }}
{{- end }}
{{- end }}

{{/* The Secret holding each service's DATABASE_URL (`<service>-database-url` keys), and the
bundled Hydra's DSN (`hydra-dsn`). */}}
{{- define "shop.databaseSecretName" -}}
{{- if .Values.postgresql.enabled }}
{{- include "shop.componentName" (dict "ctx" . "component" "postgres") }}
{{- else }}
{{- required "postgresql.external.existingSecret is required when postgresql.enabled is false" .Values.postgresql.external.existingSecret }}
{{- end }}
{{- end }}

{{- define "shop.customerPseudonymKeySecretName" -}}
{{- .Values.customerPseudonymKey.existingSecret | default (include "shop.componentName" (dict "ctx" . "component" "customer-pseudonym-key")) }}
{{- end }}

{{/*
The OpenID Connect issuer every service accepts tokens of (OIDC_ISSUER): auth.issuer, or the
bundled Hydra's public URL. The token's `iss` must equal it byte for byte, and Hydra puts its
own URLS_SELF_ISSUER there: both are rendered from this one definition.
*/}}
{{- define "shop.oidcIssuer" -}}
{{- if and .Values.auth.issuer .Values.hydra.enabled }}
{{- fail "auth.issuer names an external provider: set hydra.enabled=false as well" }}
{{- else if .Values.auth.issuer }}
{{- .Values.auth.issuer | trimSuffix "/" }}
{{- else if .Values.hydra.enabled }}
{{- printf "http://%s:4444" (include "shop.componentName" (dict "ctx" . "component" "hydra")) }}
{{- else }}
{{- fail "no OpenID Connect provider: set auth.issuer, or hydra.enabled=true for the bundled one" }}
{{- end }}
{{- end }}

{{/* The bundled Hydra's generated secrets: its system secret and its clients' secrets. */}}
{{- define "shop.hydraSecretName" -}}
{{- include "shop.componentName" (dict "ctx" . "component" "hydra") }}
{{- end }}

{{/* The Secret with the order service's client secret (key `order-client-secret`). */}}
{{- define "shop.orderClientSecretName" -}}
{{- if .Values.auth.orderClient.existingSecret }}
{{- .Values.auth.orderClient.existingSecret }}
{{- else if .Values.hydra.enabled }}
{{- include "shop.hydraSecretName" . }}
{{- else }}
{{- fail "auth.orderClient.existingSecret is required with an external issuer (the order service's client secret there)" }}
{{- end }}
{{- end }}

{{/* The services the order service calls: they take business calls from its client only. */}}
{{- define "shop.calledServices" -}}
{{- $called := list }}
{{- range .Values.services }}
{{- $called = concat $called (.upstreams | default list) }}
{{- end }}
{{- $called | uniq | toJson }}
{{- end }}

{{/* Where the services send OTLP gRPC. */}}
{{- define "shop.otlpEndpoint" -}}
{{- if .Values.collector.enabled }}
{{- printf "http://%s:4317" (include "shop.componentName" (dict "ctx" . "component" "collector")) }}
{{- else }}
{{- required "collector.external.otlpEndpoint is required when collector.enabled is false" .Values.collector.external.otlpEndpoint }}
{{- end }}
{{- end }}

{{- define "shop.jaegerQueryUrl" -}}
{{- printf "http://%s:16686" (include "shop.componentName" (dict "ctx" . "component" "jaeger")) }}
{{- end }}

{{- define "shop.prometheusUrl" -}}
{{- printf "http://%s:9090" (include "shop.componentName" (dict "ctx" . "component" "prometheus")) }}
{{- end }}

{{/*
The non-secret environment of one service, shared by its ConfigMap and the checksum annotation
that restarts its pods when it changes. Takes (dict "ctx" $ "name" "order" "service" $svc).
*/}}
{{- define "shop.serviceConfig" -}}
{{- $ctx := .ctx -}}
LOG_LEVEL: {{ .service.logLevel | quote }}
DB_POOL_SIZE: {{ .service.dbPoolSize | quote }}
DB_MAX_OVERFLOW: {{ .service.dbMaxOverflow | quote }}
ADMISSION_ENABLED: {{ .service.admission.enabled | quote }}
ADMISSION_MAX_IN_FLIGHT: {{ .service.admission.maxInFlight | quote }}
ADMISSION_MAX_QUEUED: {{ .service.admission.maxQueued | quote }}
ADMISSION_QUEUE_TIMEOUT_SECONDS: {{ .service.admission.queueTimeoutSeconds | quote }}
REQUEST_TIMEOUT_SECONDS: {{ .service.requestTimeoutSeconds | quote }}
OTEL_SERVICE_NAME: {{ .service.otelServiceName | quote }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ include "shop.otlpEndpoint" $ctx | quote }}
OTEL_TRACES_SAMPLER: {{ $ctx.Values.otel.tracesSampler | quote }}
OTEL_TRACES_SAMPLER_ARG: {{ $ctx.Values.otel.tracesSamplerArg | quote }}
OTEL_SDK_DISABLED: {{ $ctx.Values.otel.sdkDisabled | quote }}
OTEL_METRIC_EXPORT_INTERVAL: {{ $ctx.Values.otel.metricExportIntervalMs | quote }}
{{- /* OTEL_SEMCONV_STABILITY_OPT_IN is left to the services' own default (shopkit/telemetry.py);
serviceDefaults.env overrides it like any variable. */}}
TRUST_INCOMING_TRACE_CONTEXT: {{ .service.trustIncomingTraceContext | default false | quote }}
{{- /* Identity (services/shopkit/identity.py): the issuer, and the audience a token must name,
which is the service's own name (the bundled Hydra's clients ask for exactly these). */}}
OIDC_ISSUER: {{ include "shop.oidcIssuer" $ctx | quote }}
OIDC_AUDIENCE: {{ .name | quote }}
{{- with $ctx.Values.auth.jwksUrl }}
OIDC_JWKS_URL: {{ . | quote }}
{{- end }}
OIDC_ADMIN_SCOPE: {{ $ctx.Values.auth.adminScope | quote }}
{{- if has .name (include "shop.calledServices" $ctx | fromJsonArray) }}
OIDC_TRUSTED_CALLERS: {{ list $ctx.Values.auth.orderClient.id | toJson | quote }}
{{- end }}
{{- if .service.upstreams }}
OIDC_CLIENT_ID: {{ $ctx.Values.auth.orderClient.id | quote }}
{{- end }}
{{- range .service.upstreams }}
{{ printf "%s_URL" (upper .) }}: {{ printf "http://%s:%v" (include "shop.componentName" (dict "ctx" $ctx "component" .)) $ctx.Values.serviceDefaults.port | quote }}
{{- end }}
{{- with .service.customerOrderLimit }}
CUSTOMER_ORDER_BURST: {{ .burst | quote }}
CUSTOMER_ORDERS_PER_SECOND: {{ .perSecond | quote }}
{{- end }}
{{- with .service.scenarios }}
SCENARIOS: {{ toJson . | quote }}
{{- end }}
{{- range $key, $value := .service.env }}
{{ $key }}: {{ $value | quote }}
{{- end }}
{{- end }}

{{/*
OTEL_RESOURCE_ATTRIBUTES: the pod, namespace and node from the downward API (the $(VAR)
references expand the env entries declared before it), then otel.resourceAttributes.
*/}}
{{- define "shop.resourceAttributes" -}}
{{- $attributes := list "k8s.pod.name=$(K8S_POD_NAME)" "k8s.namespace.name=$(K8S_NAMESPACE_NAME)" "k8s.node.name=$(K8S_NODE_NAME)" (printf "service.version=%s" .Chart.AppVersion) }}
{{- range $key, $value := .Values.otel.resourceAttributes }}
{{- $attributes = append $attributes (printf "%s=%s" $key $value) }}
{{- end }}
{{- join "," $attributes }}
{{- end }}

{{/*
The login roles the bundled PostgreSQL creates, each owning the schema of its name,
space-separated: each service's schema, in the order of .Values.services' keys, then the bundled
Hydra's store.
*/}}
{{- define "shop.databaseRoles" -}}
{{- $roles := list }}
{{- range .Values.services }}
{{- $roles = append $roles .schema }}
{{- end }}
{{- if .Values.hydra.enabled }}
{{- $roles = append $roles "hydra" }}
{{- end }}
{{- join " " $roles }}
{{- end }}

{{/* The Secret with the helm test client's secret (key `test-client-secret`), if any. */}}
{{- define "shop.testClientSecretName" -}}
{{- if .Values.tests.client.existingSecret }}
{{- .Values.tests.client.existingSecret }}
{{- else if .Values.hydra.enabled }}
{{- include "shop.hydraSecretName" . }}
{{- end }}
{{- end }}
