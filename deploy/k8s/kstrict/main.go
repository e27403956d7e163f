// kstrict decodes rendered Kubernetes manifests into the API's own Go types with strict
// decoding, the way the API server does with `fieldValidation=Strict`: unknown fields
// (a typo such as `terminationGracePeriodSecond`), duplicate fields, wrong types and unknown
// kinds are errors. It needs no cluster. Usage: kstrict FILE...  (multi-document YAML)
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kstrict FILE...")
		os.Exit(2)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, autoscalingv2.AddToScheme, policyv1.AddToScheme,
		networkingv1.AddToScheme, rbacv1.AddToScheme, gatewayv1.Install, monitoringv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			fmt.Fprintln(os.Stderr, "kstrict: scheme:", err)
			os.Exit(2)
		}
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()

	failed, total := 0, 0
	for _, path := range os.Args[1:] {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kstrict:", err)
			os.Exit(2)
		}
		reader := utilyaml.NewYAMLReader(bufio.NewReader(f))
		for index := 0; ; index++ {
			doc, err := reader.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				fmt.Printf("FAIL %s doc %d: cannot split YAML: %v\n", path, index, err)
				failed++
				break
			}
			if isBlank(doc) {
				continue
			}
			total++
			obj, gvk, err := decoder.Decode(doc, nil, nil)
			name := "?"
			if accessor, ok := obj.(interface{ GetName() string }); ok && obj != nil {
				name = accessor.GetName()
			}
			if err != nil {
				failed++
				kind := "?"
				if gvk != nil {
					kind = gvk.String()
				}
				fmt.Printf("FAIL %s doc %d (%s %s): %v\n", path, index, kind, name, err)
				continue
			}
			fmt.Printf("ok   %s %s/%s\n", path, gvk.Kind, name)
		}
		f.Close()
	}
	fmt.Printf("kstrict: %d documents, %d failed\n", total, failed)
	if failed > 0 || total == 0 {
		os.Exit(1)
	}
}

// isBlank reports whether a YAML document holds only comments and whitespace.
func isBlank(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) > 0 && trimmed[0] != '#' && !bytes.Equal(trimmed, []byte("---")) {
			return false
		}
	}
	return true
}
