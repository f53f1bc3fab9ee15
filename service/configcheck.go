package service

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a config file, named by its YAML key
// path (e.g. api.listen, alert.sinks[0].url) and line (0: not in the file,
// e.g. a missing required key or an environment override).
type Problem struct {
	Line    int
	Key     string
	Message string
}

func (p Problem) String() string {
	s := p.Message
	if p.Key != "" {
		s = p.Key + ": " + s
	}
	if p.Line > 0 {
		s = fmt.Sprintf("line %d: %s", p.Line, s)
	}
	return s
}

// ConfigError lists every problem of a config, in file order.
type ConfigError struct{ Problems []Problem }

func (e *ConfigError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid config: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid config: %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

// keyLines maps YAML key paths to the line they are on.
type keyLines map[string]int

var (
	durationType  = reflect.TypeFor[time.Duration]()
	unmarshalerTy = reflect.TypeFor[yaml.Unmarshaler]()
)

// checkNode walks a YAML node against the Go type it decodes into and
// reports unknown keys (with the nearest known one), values of the wrong
// kind and unparseable durations — every one, not the first — and
// records the line of every key.
func checkNode(n *yaml.Node, t reflect.Type, path string, lines keyLines, out *[]Problem) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			checkNode(c, t, path, lines, out)
		}
		return
	}
	if n.Kind == yaml.AliasNode || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerTy) {
		return // decodes itself; decode errors are mapped later
	}
	bad := func(msg string, args ...any) {
		*out = append(*out, Problem{Line: n.Line, Key: path, Message: fmt.Sprintf(msg, args...)})
	}
	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			bad("not a duration (e.g. 5m)")
			return
		}
		if _, err := time.ParseDuration(n.Value); err != nil && n.Tag != "!!int" {
			bad("`%s` is not a duration (e.g. 5m)", n.Value)
		}
		return
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			bad("want a mapping of keys (key: value), got %s", nodeKind(n))
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			kp := joinKey(path, k.Value)
			lines[kp] = k.Line
			ft, ok := fields[k.Value]
			if !ok {
				msg := "unknown key"
				if s := nearest(k.Value, mapKeys(fields)); s != "" {
					msg += " (did you mean " + s + "?)"
				}
				*out = append(*out, Problem{Line: k.Line, Key: kp, Message: msg})
				continue
			}
			checkNode(v, ft, kp, lines, out)
		}
		return
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			bad("want a mapping, got %s", nodeKind(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kp := joinKey(path, n.Content[i].Value)
			lines[kp] = n.Content[i].Line
			checkNode(n.Content[i+1], t.Elem(), kp, lines, out)
		}
		return
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		if n.Kind != yaml.SequenceNode {
			bad("want a list, got %s", nodeKind(n))
			return
		}
		for i, c := range n.Content {
			ip := fmt.Sprintf("%s[%d]", path, i)
			lines[ip] = c.Line
			checkNode(c, t.Elem(), ip, lines, out)
		}
		return
	}
	if n.Kind != yaml.ScalarNode {
		bad("want a single value, got %s", nodeKind(n))
		return
	}
	switch t.Kind() {
	case reflect.Bool:
		if n.Tag != "!!bool" {
			bad("`%s` is not true or false", n.Value)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if _, err := strconv.ParseInt(n.Value, 0, t.Bits()); err != nil {
			bad("`%s` is not an integer", n.Value)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if _, err := strconv.ParseUint(n.Value, 0, t.Bits()); err != nil {
			bad("`%s` is not a non-negative integer (max %d)", n.Value, uint64(1)<<t.Bits()-1)
		}
	case reflect.Float32, reflect.Float64:
		if _, err := strconv.ParseFloat(n.Value, 64); err != nil {
			bad("`%s` is not a number", n.Value)
		}
	}
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "`" + n.Value + "`"
}

func joinKey(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// yamlFields maps the YAML keys of a struct (inline structs merged) to
// their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range yamlFields(ft) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func mapKeys(m map[string]reflect.Type) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// nearest returns the known key closest to k (edit distance at most 2, or
// a prefix of it), "" if none is close.
func nearest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		d := editDistance(k, c)
		if d < bestD || (d == bestD && best != "" && c < best) {
			best, bestD = c, d
		}
	}
	if best == "" {
		for _, c := range known {
			if len(k) >= 3 && strings.HasPrefix(c, k) {
				return c
			}
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Prefixes the section validators put before their messages.
var sectionPrefixes = []string{
	"analyzer: validate: invalid analyzer config: ", "api: config: ", "collector: invalid config: ",
	"alert: invalid config: ", "alert: config: ", "service: invalid config: ",
}

var keyRE = regexp.MustCompile(`^([a-z0-9_]+(?:\[\d+\])?(?:\.[a-z0-9_]+(?:\[\d+\])?)*)(?:: | = )(.*)$`)

// problemsOf flattens a validation error (errors.Join trees, "; "-joined
// lists) into problems keyed under section, with lines from lines.
func problemsOf(err error, section string, lines keyLines) []Problem {
	var leaves []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, c := range j.Unwrap() {
				walk(c)
			}
			return
		}
		if ve, ok := e.(interface{ Problems() []string }); ok {
			leaves = append(leaves, ve.Problems()...)
			return
		}
		msg := e.Error()
		for changed := true; changed; {
			changed = false
			for _, p := range sectionPrefixes {
				if strings.HasPrefix(msg, p) {
					msg, changed = strings.TrimPrefix(msg, p), true
				}
			}
		}
		leaves = append(leaves, strings.Split(msg, "\n")...)
	}
	walk(err)
	var out []Problem
	for _, l := range leaves {
		for _, part := range splitList(l) {
			p := Problem{Message: part}
			if m := keyRE.FindStringSubmatch(part); m != nil {
				p.Key, p.Message = m[1], m[2]
				if section != "" && p.Key != section && !strings.HasPrefix(p.Key, section+".") {
					p.Key = section + "." + p.Key
				}
			} else if section != "" {
				p.Key = section
			}
			p.Line = lineOf(p.Key, lines)
			out = append(out, p)
		}
	}
	return out
}

// splitList splits "a: x; b: y" lists some validators produce.
func splitList(s string) []string {
	parts := strings.Split(s, "; ")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return slices.DeleteFunc(parts, func(p string) bool { return p == "" })
}

// lineOf returns the line of key, or of its nearest parent in the file.
func lineOf(key string, lines keyLines) int {
	for k := key; k != ""; {
		if l, ok := lines[k]; ok {
			return l
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

// decodeProblem maps a yaml.v3 decode error ("line N: cannot unmarshal
// ...") to problems naming keys.
func decodeProblems(err error, lines keyLines) []Problem {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	byLine := map[int]string{}
	for k, l := range lines {
		if old, ok := byLine[l]; !ok || len(k) > len(old) {
			byLine[l] = k
		}
	}
	re := regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	var out []Problem
	for _, m := range msgs {
		p := Problem{Message: m}
		if sm := re.FindStringSubmatch(m); sm != nil {
			p.Line, _ = strconv.Atoi(sm[1])
			p.Message = sm[2]
			p.Key = byLine[p.Line]
		}
		p.Message = regexp.MustCompile(`cannot unmarshal !!\w+ (.*) into [\w.\[\]*]+`).ReplaceAllString(p.Message, "$1 is not a valid value")
		out = append(out, p)
	}
	return out
}

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		li, lj := ps[i].Line, ps[j].Line
		if li == 0 {
			li = 1 << 30
		}
		if lj == 0 {
			lj = 1 << 30
		}
		return li < lj
	})
}
