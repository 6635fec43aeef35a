package deploy_test

import (
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/yannh/kubeconform/pkg/validator"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// kubeVersion is the Kubernetes release whose schemas are in kubeschemas/
// (go run ./deploy/kubeschemas writes them).
const kubeVersion = "1.37.2"

// newValidator is kubeconform, strict (no field the API does not know),
// against the schemas kept in the repository: no network.
func newValidator(t *testing.T) validator.Validator {
	t.Helper()
	v, err := validator.New([]string{"kubeschemas/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"},
		validator.Opts{KubernetesVersion: kubeVersion, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// render renders the chart with Helm's own engine, as helm install would,
// with values over the chart's defaults.
func render(t *testing.T, values map[string]any) map[string]string {
	t.Helper()
	ch, err := loader.Load("helm/pathway")
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Validate(); err != nil {
		t.Fatal(err)
	}
	rv, err := chartutil.ToRenderValues(ch, values, chartutil.ReleaseOptions{Name: "pathway", Namespace: "pathway", Revision: 1, IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Engine{Strict: true}.Render(ch, rv)
	if err != nil {
		t.Fatalf("render the chart: %v", err)
	}
	manifests := map[string]string{}
	for name, text := range out {
		if strings.HasSuffix(name, ".yaml") && strings.TrimSpace(text) != "" {
			manifests[name] = text
		}
	}
	return manifests
}

// validate runs kubeconform on each manifest and returns the kinds it
// found valid.
func validate(t *testing.T, v validator.Validator, manifests map[string]string) []string {
	t.Helper()
	var kinds []string
	for name, text := range manifests {
		for _, res := range v.Validate(name, io.NopCloser(strings.NewReader(text))) {
			if res.Status == validator.Empty {
				continue
			}
			sig, _ := res.Resource.Signature()
			if res.Status != validator.Valid {
				t.Errorf("%s: %v is not valid: %v %v", name, sig, res.Err, res.ValidationErrors)
				continue
			}
			kinds = append(kinds, sig.Kind)
		}
	}
	slices.Sort(kinds)
	return kinds
}

// TestChartManifestsValidate: the chart renders, with its defaults and
// with the options an operator changes, into manifests that kubeconform
// finds valid against Kubernetes' own schemas.
func TestChartManifestsValidate(t *testing.T) {
	v := newValidator(t)
	for _, c := range []struct {
		name   string
		values map[string]any
		kinds  []string
	}{
		{"defaults", nil, []string{"Deployment", "NetworkPolicy", "Service", "ServiceAccount"}},
		{"options", map[string]any{
			"replicas":       2,
			"networkPolicy":  map[string]any{"enabled": false},
			"config":         map[string]any{"trustedProxies": "10.0.0.0/8", "waitTarget": "336h"},
			"extraEnv":       []any{map[string]any{"name": "PATHWAY_ACCESS_LOG", "value": "false"}},
			"nodeSelector":   map[string]any{"kubernetes.io/os": "linux"},
			"tolerations":    []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "pathway", "effect": "NoSchedule"}},
			"podAnnotations": map[string]any{"example.org/team": "pathway"},
		}, []string{"Deployment", "Service", "ServiceAccount"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := validate(t, v, render(t, c.values))
			if !slices.Equal(got, c.kinds) {
				t.Errorf("valid kinds %v, want %v", got, c.kinds)
			}
		})
	}
}

// TestKubeconformRejectsBrokenManifests: the validation is real: a field
// Kubernetes does not know, a wrong type and a missing required field
// are each rejected. (Whether a container names its image is the API
// server's check, not the schema's.)
func TestKubeconformRejectsBrokenManifests(t *testing.T) {
	v := newValidator(t)
	dep := render(t, nil)["pathway/templates/deployment.yaml"]
	for _, c := range []struct{ name, from, to string }{
		{"unknown field", "  replicas: 1\n", "  replicas: 1\n  replica: 1\n"},
		{"wrong type", "  replicas: 1\n", "  replicas: one\n"},
		{"a container without its required name", "        - name: pathway\n          image: ", "        - image: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			broken := strings.Replace(dep, c.from, c.to, 1)
			if broken == dep {
				t.Fatalf("the rendered Deployment has no %q to break", c.from)
			}
			res := v.Validate("broken.yaml", io.NopCloser(strings.NewReader(broken)))
			if len(res) != 1 || res[0].Status != validator.Invalid {
				for _, r := range res {
					t.Errorf("kubeconform on a Deployment with %s: status %d, want Invalid (%d)", c.name, r.Status, validator.Invalid)
				}
			}
		})
	}
}

// TestChartPod: what the pod runs as and how it is probed, fed its
// secrets and sized.
func TestChartPod(t *testing.T) {
	var dep appsv1.Deployment
	if err := yaml.UnmarshalStrict([]byte(render(t, nil)["pathway/templates/deployment.yaml"]), &dep); err != nil {
		t.Fatal(err)
	}
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Error("the pod may run as root")
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Error("the container's root filesystem is writable, or it may escalate privileges or keep capabilities")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the pod mounts a Kubernetes API token it does not need")
	}
	probe := func(p *corev1.Probe) string {
		if p == nil || p.HTTPGet == nil {
			return ""
		}
		return p.HTTPGet.Path + " on " + p.HTTPGet.Port.String()
	}
	if got := probe(c.ReadinessProbe); got != "/readyz on http" {
		t.Errorf("readiness probe %q, want /readyz on http", got)
	}
	if got := probe(c.LivenessProbe); got != "/healthz on http" {
		t.Errorf("liveness probe %q, want /healthz on http", got)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %v: want CPU and memory requests and a memory limit", c.Resources)
	}
	if c.Resources.Limits.Memory().Cmp(*c.Resources.Requests.Memory()) < 0 {
		t.Error("the memory limit is below the request")
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if u := env["PATHWAY_NATS_URL"].Value; !strings.HasPrefix(u, "tls://") {
		t.Errorf("PATHWAY_NATS_URL %q, want tls://", u)
	}
	if e := env["PATHWAY_NATS_PASSWORD"]; e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		t.Error("the NATS password is not taken from a Secret")
	}
	if _, ok := env["PATHWAY_MASTER_KEY"]; ok {
		t.Error("the master key is in the environment; want a file from a Secret")
	}
	masterFile := env["PATHWAY_MASTER_KEY_FILE"].Value
	mounted := false
	for _, m := range c.VolumeMounts {
		for _, vol := range pod.Volumes {
			if vol.Name == m.Name && vol.Secret != nil && strings.HasPrefix(masterFile, m.MountPath+"/") && m.ReadOnly {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("PATHWAY_MASTER_KEY_FILE %q is not in a read-only Secret volume", masterFile)
	}
	// The NATS CA is trusted for NATS only: SSL_CERT_FILE would replace
	// the system's authorities, and webhooks to partners need them.
	if _, ok := env["SSL_CERT_FILE"]; ok {
		t.Error("SSL_CERT_FILE replaces the system's certificate authorities for every connection; want PATHWAY_NATS_CA")
	}
	if ca := env["PATHWAY_NATS_CA"].Value; !strings.HasPrefix(ca, "/etc/pathway/nats-ca/") {
		t.Errorf("PATHWAY_NATS_CA %q, want the CA file of the mounted Secret", ca)
	}
	if env["PATHWAY_REPLICAS"].Value != "3" {
		t.Errorf("PATHWAY_REPLICAS %q, want 3 on the three-node cluster", env["PATHWAY_REPLICAS"].Value)
	}
}

// TestNATSValues: deploy/helm/nats-values.yaml asks the official NATS
// chart for three servers with JetStream on file storage, TLS for clients
// and routes, and pathway's account, whose password comes from the same
// Secret the pathway chart gives pathway.
func TestNATSValues(t *testing.T) {
	b, err := os.ReadFile("helm/nats-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var nats struct {
		Config struct {
			Cluster struct {
				Enabled  bool `json:"enabled"`
				Replicas int  `json:"replicas"`
				TLS      struct {
					Enabled    bool   `json:"enabled"`
					SecretName string `json:"secretName"`
				} `json:"tls"`
			} `json:"cluster"`
			NATS struct {
				TLS struct {
					Enabled    bool   `json:"enabled"`
					SecretName string `json:"secretName"`
				} `json:"tls"`
			} `json:"nats"`
			JetStream struct {
				Enabled   bool `json:"enabled"`
				FileStore struct {
					Enabled bool `json:"enabled"`
					PVC     struct {
						Enabled bool   `json:"enabled"`
						Size    string `json:"size"`
					} `json:"pvc"`
				} `json:"fileStore"`
				Merge map[string]any `json:"merge"`
			} `json:"jetstream"`
			Merge struct {
				Accounts map[string]struct {
					JetStream map[string]any `json:"jetstream"`
					Users     []struct {
						User     string `json:"user"`
						Password string `json:"password"`
					} `json:"users"`
				} `json:"accounts"`
			} `json:"merge"`
		} `json:"config"`
		TLSCA struct {
			Enabled    bool   `json:"enabled"`
			SecretName string `json:"secretName"`
		} `json:"tlsCA"`
		Container struct {
			Raw map[string]struct {
				ValueFrom corev1.EnvVarSource `json:"valueFrom"`
			} `json:"env"`
		} `json:"container"`
	}
	if err := yaml.Unmarshal(b, &nats); err != nil {
		t.Fatal(err)
	}
	cfg := nats.Config
	if !cfg.Cluster.Enabled || cfg.Cluster.Replicas != 3 {
		t.Errorf("cluster enabled %v with %d servers, want 3", cfg.Cluster.Enabled, cfg.Cluster.Replicas)
	}
	if !cfg.JetStream.Enabled || !cfg.JetStream.FileStore.Enabled || !cfg.JetStream.FileStore.PVC.Enabled || cfg.JetStream.FileStore.PVC.Size == "" {
		t.Error("JetStream is not on file storage with a volume of a given size")
	}
	if cfg.JetStream.Merge["sync_interval"] != "always" {
		t.Errorf("sync_interval %v, want always (every write fsynced, as pathway serve does)", cfg.JetStream.Merge["sync_interval"])
	}
	if !cfg.NATS.TLS.Enabled || !cfg.Cluster.TLS.Enabled || !nats.TLSCA.Enabled {
		t.Error("TLS is not on for clients, routes and the CA")
	}

	var chartValues struct {
		NATS struct {
			User           string `json:"user"`
			PasswordSecret struct {
				Name string `json:"name"`
				Key  string `json:"key"`
			} `json:"passwordSecret"`
			CASecret struct {
				Name string `json:"name"`
			} `json:"caSecret"`
		} `json:"nats"`
	}
	cb, err := os.ReadFile("helm/pathway/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(cb, &chartValues); err != nil {
		t.Fatal(err)
	}
	acct, ok := cfg.Merge.Accounts["PATHWAY"]
	if !ok || acct.JetStream["max_file"] == nil {
		t.Fatal("no PATHWAY account with a JetStream storage limit")
	}
	found := false
	for _, u := range acct.Users {
		if u.User != chartValues.NATS.User {
			continue
		}
		found = true
		env := strings.TrimSuffix(strings.TrimPrefix(u.Password, "<< $"), " >>")
		ref := nats.Container.Raw[env].ValueFrom.SecretKeyRef
		if ref == nil || ref.Name != chartValues.NATS.PasswordSecret.Name || ref.Key != chartValues.NATS.PasswordSecret.Key {
			t.Errorf("user %s's password %q is not the Secret %s/%s the pathway chart reads", u.User, u.Password,
				chartValues.NATS.PasswordSecret.Name, chartValues.NATS.PasswordSecret.Key)
		}
	}
	if !found {
		t.Errorf("the PATHWAY account has no user %q, the pathway chart's", chartValues.NATS.User)
	}
	if nats.TLSCA.SecretName != chartValues.NATS.CASecret.Name {
		t.Errorf("the NATS CA is in Secret %q, the pathway chart trusts %q", nats.TLSCA.SecretName, chartValues.NATS.CASecret.Name)
	}
}
