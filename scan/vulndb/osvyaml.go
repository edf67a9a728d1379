package vulndb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// maxYAMLNodes bounds the JSON a YAML record expands to: aliases can make a
// small document name a huge tree (the "billion laughs"), and real OSV
// records have a few thousand nodes at most.
const maxYAMLNodes = 1 << 18

// maxYAMLDepth bounds nesting; OSV records nest six levels deep.
const maxYAMLDepth = 64

var errYAMLTooLarge = errors.New("YAML expands to too many nodes")

// osvYAMLToJSON turns one OSV record written in YAML (as the PyPA advisory
// database ships them) into JSON for parseOSV. Scalars keep their text:
// YAML would read an unquoted version such as 1.10 as the float 1.1, and
// every OSV field a version can be in is a string. Only null and the
// booleans keep their type.
func osvYAMLToJSON(data []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errNotOSV
	}
	nodes := 0
	v, err := yamlNodeValue(doc.Content[0], 0, &nodes)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func yamlNodeValue(n *yaml.Node, depth int, nodes *int) (any, error) {
	*nodes++
	if *nodes > maxYAMLNodes {
		return nil, errYAMLTooLarge
	}
	if depth > maxYAMLDepth {
		return nil, fmt.Errorf("YAML nested deeper than %d", maxYAMLDepth)
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, errors.New("YAML alias without anchor")
		}
		return yamlNodeValue(n.Alias, depth+1, nodes)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, errors.New("YAML mapping key is not a scalar")
			}
			v, err := yamlNodeValue(n.Content[i+1], depth+1, nodes)
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := yamlNodeValue(c, depth+1, nodes)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err == nil {
				return b, nil
			}
		}
		return n.Value, nil
	}
	return nil, fmt.Errorf("YAML node of kind %d", n.Kind)
}

// looksLikeOSVYAML tells an OSV record in YAML from an Alpine secdb file by
// its top-level keys: OSV has "id" and "affected" (or "modified", which the
// schema requires), secdb has "packages" and "distroversion".
func looksLikeOSVYAML(data []byte) bool {
	var top map[string]yaml.Node
	if yaml.Unmarshal(data, &top) != nil {
		return false
	}
	_, id := top["id"]
	_, affected := top["affected"]
	_, modified := top["modified"]
	_, packages := top["packages"]
	return id && (affected || modified) && !packages
}
