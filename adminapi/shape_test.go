package adminapi_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/node"
)

// TestShapesMatchTheNode checks each wire type against the node's own
// (until the node uses these types): a value with every field set
// survives JSON both ways between the two unchanged.
func TestShapesMatchTheNode(t *testing.T) {
	policyAnswer := reflect.TypeOf(struct {
		Version uint64 `json:"version"`
		Digest  string `json:"digest"`
	}{}) // node/policy.go handlePutPolicy's answer
	for _, tt := range []struct {
		name        string
		node, local reflect.Type
	}{
		{"Status", reflect.TypeFor[node.Status](), reflect.TypeFor[adminapi.Status]()},
		{"CacheStatus", reflect.TypeFor[node.CacheStatus](), reflect.TypeFor[adminapi.CacheStatus]()},
		{"PolicyStatus", reflect.TypeFor[node.PolicyStatus](), reflect.TypeFor[adminapi.PolicyStatus]()},
		{"PolicyApplied", policyAnswer, reflect.TypeFor[adminapi.PolicyApplied]()},
		{"PreloadRequest", reflect.TypeFor[node.PreloadRequest](), reflect.TypeFor[adminapi.PreloadRequest]()},
		{"ImageStreamLine", reflect.TypeFor[node.ImageStreamLine](), reflect.TypeFor[adminapi.ImageStreamLine]()},
		{"ImportedImage", reflect.TypeFor[node.ImportedImage](), reflect.TypeFor[adminapi.ImportedImage]()},
		{"PreloadedImage", reflect.TypeFor[node.PreloadedImage](), reflect.TypeFor[adminapi.PreloadedImage]()},
		{"ScanResult", reflect.TypeFor[node.ScanResult](), reflect.TypeFor[adminapi.ScanResult]()},
		{"ReportView", reflect.TypeFor[node.ReportView](), reflect.TypeFor[adminapi.ReportView]()},
		{"DBStatus", reflect.TypeFor[node.DBStatus](), reflect.TypeFor[adminapi.DBStatus]()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, dir := range []struct{ from, to reflect.Type }{{tt.node, tt.local}, {tt.local, tt.node}} {
				v := reflect.New(dir.from)
				fill(v.Elem(), 1)
				want, err := json.Marshal(v.Interface())
				if err != nil {
					t.Fatal(err)
				}
				w := reflect.New(dir.to)
				if err := json.Unmarshal(want, w.Interface()); err != nil {
					t.Fatalf("%s into %s: %v", want, dir.to, err)
				}
				got, err := json.Marshal(w.Interface())
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s → %s:\n got %s\nwant %s", dir.from, dir.to, got, want)
				}
			}
		})
	}
}

// fill sets every field of v, recursively, to a value that is not zero.
func fill(v reflect.Value, depth int) {
	if depth > 6 {
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("s")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), depth+1)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0), depth+1)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, depth+1)
		fill(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	}
}
