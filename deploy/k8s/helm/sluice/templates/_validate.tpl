{{/* Cross-field checks that values.schema.json cannot express. Rendered from NOTES.txt and the Deployments. */}}
{{- define "sluice.validate" -}}
{{- $g := .Values.gateway }}
{{- if and $g.autoscaling.enabled (gt (int $g.autoscaling.minReplicas) (int $g.autoscaling.maxReplicas)) }}
{{- fail "gateway.autoscaling.minReplicas must not be greater than gateway.autoscaling.maxReplicas" }}
{{- end }}
{{- if and $g.autoscaling.enabled (not $g.autoscaling.connectedClients.enabled) (eq (int $g.autoscaling.targetCPUUtilizationPercentage) 0) }}
{{- fail "gateway.autoscaling needs a metric: set targetCPUUtilizationPercentage > 0 or enable connectedClients" }}
{{- end }}
{{- if and .Values.ingress.enabled .Values.httpRoute.enabled }}
{{- fail "enable either ingress or httpRoute, not both (they would route the same paths twice)" }}
{{- end }}
{{- if and .Values.secrets.existingSecret (gt (len .Values.secrets.env) 0) }}
{{- fail "secrets.env is ignored when secrets.existingSecret is set: put the variables in the existing Secret" }}
{{- end }}
{{- if and .Values.nats.tls.existingSecret (or (and .Values.nats.tls.certKey (not .Values.nats.tls.keyKey)) (and .Values.nats.tls.keyKey (not .Values.nats.tls.certKey))) }}
{{- fail "nats.tls.certKey and nats.tls.keyKey must be set together" }}
{{- end }}
{{- end }}
