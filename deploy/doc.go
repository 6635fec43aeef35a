// Package deploy holds no code. Its folder holds what pathway is deployed
// with (the container build, the Helm chart and the NATS chart's values,
// the systemd unit, the Prometheus alerts and the Grafana dashboard), and
// its tests check them: the chart renders with Helm's engine into
// manifests kubeconform finds valid against the Kubernetes schemas kept
// in kubeschemas/, the alerts parse with Prometheus' rule parser, and
// every metric the alerts and the dashboard name is one a running pathway
// serves. It is a module of its own so that Helm, kubeconform and
// Prometheus stay out of the services' dependencies.
package deploy
