// kstatus: the status GitOps tools (Flux, kpt, cli-utils) compute for Kubernetes
// objects, from sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute. A test tool, built
// and cached by hack/tools.sh (`hack/tools.sh kstatus`, `hack/tools.sh path kstatus`).
//
//	kubectl get ecsservice web -o json | kstatus          EcsService/default/web Current Resource is Ready
//	kubectl get ecs -o json | kstatus --json              [{"kind":...,"status":...,"message":...}, ...]
//
// Input on stdin: one object as JSON or YAML, several YAML documents or JSON objects
// one after the other, a JSON array of objects, or a List (kind List or *List with
// items, as `kubectl get -o json` prints it); Lists and arrays are flattened.
// Output: one line per object, "<kind>/<namespace>/<name> <Status> <message>" (the
// namespace is empty for cluster-scoped objects), or with --json one JSON array of
// {"kind","namespace","name","status","message"}. Status is one of Current,
// InProgress, Failed, Terminating, NotFound, Unknown; an object kstatus cannot compute
// a status for (e.g. a malformed status.observedGeneration) is Unknown with the error
// as message. The exit status is non-zero only when the input cannot be read (not
// JSON/YAML, an item that is not an object, no object at all) or on a usage error.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

const module = "sigs.k8s.io/cli-utils"

type result struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	Message   string `json:"message"`
}

func main() {
	flags := flag.NewFlagSet("kstatus", flag.ContinueOnError)
	asJSON := flags.Bool("json", false, "print a JSON array instead of one line per object")
	version := flags.Bool("version", false, "print the version of "+module+" and exit")
	flags.Usage = func() {
		fmt.Fprintf(flags.Output(), "usage: kstatus [--json] < object.json|yaml\n"+
			"Prints <kind>/<namespace>/<name> <Status> <message> for each object on stdin\n"+
			"(kstatus: %s/pkg/kstatus/status.Compute).\n", module)
		flags.PrintDefaults()
	}
	if err := flags.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "kstatus: unexpected argument %q (the objects are read from stdin)\n", flags.Arg(0))
		flags.Usage()
		os.Exit(2)
	}
	if *version {
		fmt.Printf("kstatus %s %s\n", module, moduleVersion())
		return
	}

	objects, err := readObjects(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: reading stdin: %v\n", err)
		os.Exit(1)
	}
	results := make([]result, 0, len(objects))
	for _, obj := range objects {
		results = append(results, compute(obj))
	}

	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(results); err != nil {
			fmt.Fprintf(os.Stderr, "kstatus: %v\n", err)
			os.Exit(1)
		}
		return
	}
	for _, r := range results {
		line := fmt.Sprintf("%s/%s/%s %s", r.Kind, r.Namespace, r.Name, r.Status)
		if msg := strings.Join(strings.Fields(r.Message), " "); msg != "" {
			line += " " + msg
		}
		fmt.Println(line)
	}
}

func compute(obj map[string]interface{}) result {
	u := &unstructured.Unstructured{Object: obj}
	r := result{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
	res, err := status.Compute(u)
	switch {
	case err != nil:
		r.Status, r.Message = string(status.UnknownStatus), err.Error()
	case res == nil:
		r.Status = string(status.UnknownStatus)
	default:
		r.Status, r.Message = string(res.Status), res.Message
	}
	return r
}

// readObjects decodes every JSON value / YAML document on r and flattens arrays and
// Lists into the objects they hold.
func readObjects(r io.Reader) ([]map[string]interface{}, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("no input (expected a Kubernetes object as JSON or YAML)")
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objects []map[string]interface{}
	seen := 0
	for doc := 1; ; doc++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
			continue // an empty YAML document
		}
		// k8s.io/apimachinery's JSON decoding keeps integers int64, as kstatus expects
		// (metadata.generation, status.observedGeneration).
		var v interface{}
		if err := utiljson.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		seen++
		if err := flatten(v, fmt.Sprintf("document %d", doc), &objects); err != nil {
			return nil, err
		}
	}
	if seen == 0 {
		return nil, errors.New("no object found (expected a Kubernetes object as JSON or YAML)")
	}
	return objects, nil
}

func flatten(v interface{}, where string, out *[]map[string]interface{}) error {
	switch t := v.(type) {
	case []interface{}:
		for i, item := range t {
			if err := flatten(item, fmt.Sprintf("%s, item %d", where, i), out); err != nil {
				return err
			}
		}
		return nil
	case map[string]interface{}:
		kind, _ := t["kind"].(string)
		if items, ok := t["items"].([]interface{}); ok && strings.HasSuffix(kind, "List") {
			return flatten(items, where, out)
		}
		*out = append(*out, t)
		return nil
	default:
		return fmt.Errorf("%s: expected a Kubernetes object, got %s", where, describe(v))
	}
}

func describe(v interface{}) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, float64:
		return "a number"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func moduleVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == module {
				if dep.Replace != nil {
					return dep.Replace.Version
				}
				return dep.Version
			}
		}
	}
	return "(unknown)"
}
