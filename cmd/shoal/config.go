package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// applyConfig fills every flag the command line did not set, first from
// SHOAL_<FLAG> in the environment, then from the YAML file (key = flag
// name), so that a flag beats the environment, which beats the file.
func applyConfig(flags *pflag.FlagSet, file string, getenv func(string) string) error {
	values := map[string]any{}
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if err := yaml.Unmarshal(raw, &values); err != nil {
			return fmt.Errorf("config %s: %w", file, err)
		}
		var unknown []string
		for k := range values {
			if f := flags.Lookup(k); f == nil || k == "config" {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return fmt.Errorf("config %s: unknown keys %s", file, strings.Join(unknown, ", "))
		}
	}
	var err error
	flags.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			err = setFlag(f, splitList(f, v), "environment variable "+envName(f.Name))
			return
		}
		if v, ok := values[f.Name]; ok {
			list, lerr := yamlValues(v)
			if lerr != nil {
				err = fmt.Errorf("config %s: %s: %w", file, f.Name, lerr)
				return
			}
			err = setFlag(f, list, "config key "+f.Name)
		}
	})
	return err
}

// envName is the environment variable for a flag: --tag-ttl → SHOAL_TAG_TTL.
func envName(flag string) string {
	return "SHOAL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func setFlag(f *pflag.Flag, values []string, from string) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		if err := sv.Replace(values); err != nil {
			return fmt.Errorf("%s: %w", from, err)
		}
	} else {
		if len(values) != 1 {
			return fmt.Errorf("%s: --%s takes one value", from, f.Name)
		}
		if err := f.Value.Set(values[0]); err != nil {
			return fmt.Errorf("%s: %w", from, err)
		}
	}
	f.Changed = true
	return nil
}

// splitList splits an environment value for a repeatable flag on commas
// and newlines; other flags take the value whole.
func splitList(f *pflag.Flag, v string) []string {
	if _, ok := f.Value.(pflag.SliceValue); !ok {
		return []string{v}
	}
	var out []string
	for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\n' }) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func yamlValues(v any) ([]string, error) {
	switch v := v.(type) {
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, err := yamlScalar(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	default:
		s, err := yamlScalar(v)
		return []string{s}, err
	}
}

func yamlScalar(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		return fmt.Sprint(v), nil
	case float64:
		if v == float64(int64(v)) {
			return fmt.Sprint(int64(v)), nil
		}
		return fmt.Sprint(v), nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("want a string, number, boolean or list of them, got %T", v)
}
