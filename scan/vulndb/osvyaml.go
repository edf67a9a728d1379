package vulndb

import (
	"bytes"
	"encoding/json"

	"go.yaml.in/yaml/v2"
)

// yamlValue is one YAML node as a JSON-ready value. It is decoded with
// go.yaml.in/yaml/v2, which the binary links already (through
// sigs.k8s.io/yaml for secdb): asking v2 for a string keeps a scalar's text,
// which is the point; aliases are expanded by v2, which refuses documents
// with excessive aliasing (the "billion laughs").
type yamlValue struct{ v any }

// UnmarshalYAML tries the node as a scalar (or null), a mapping, then a
// sequence; a node of one kind fails the other decodings at once, so a
// document is decoded once over.
func (y *yamlValue) UnmarshalYAML(unmarshal func(any) error) error {
	var s *string
	if unmarshal(&s) == nil {
		if s == nil {
			y.v = nil
		} else {
			y.v = *s
		}
		return nil
	}
	var m map[string]*yamlValue
	if err := unmarshal(&m); err == nil {
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[k] = v.value()
		}
		y.v = out
		return nil
	}
	var l []*yamlValue
	if err := unmarshal(&l); err != nil {
		return err
	}
	out := make([]any, len(l))
	for i, v := range l {
		out[i] = v.value()
	}
	y.v = out
	return nil
}

func (y *yamlValue) value() any {
	if y == nil {
		return nil
	}
	return y.v
}

// osvYAMLToJSON turns one OSV record written in YAML (as the PyPA advisory
// database ships them) into JSON for parseOSV. Scalars keep their text:
// YAML would read an unquoted version such as 1.10 as the float 1.1, and
// every OSV field a version can be in is a string; booleans become strings
// too, which no field Import reads minds. Only null stays null.
func osvYAMLToJSON(data []byte) ([]byte, error) {
	var top map[string]*yamlValue
	if err := yaml.Unmarshal(data, &top); err != nil {
		return nil, err
	}
	if top == nil {
		return nil, errNotOSV
	}
	v := make(map[string]any, len(top))
	for k, e := range top {
		v[k] = e.value()
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// looksLikeOSVYAML tells an OSV record in YAML from an Alpine secdb file by
// its top-level keys: OSV has "id" and "affected" (or "modified", which the
// schema requires), secdb has "packages" and "distroversion".
func looksLikeOSVYAML(data []byte) bool {
	var top map[string]any
	if yaml.Unmarshal(data, &top) != nil {
		return false
	}
	_, id := top["id"]
	_, affected := top["affected"]
	_, modified := top["modified"]
	_, packages := top["packages"]
	return id && (affected || modified) && !packages
}
