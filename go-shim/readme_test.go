//go:build cgo

// The docs held to the code, as CoreDNS's test/readme_test.go holds its
// plugins' READMEs: the options of the manual's Syntax are the parser's,
// with the defaults and the ranges the code gives them, and the metrics the
// docs name are the collector's. (tests/install's test_doc_*.py start the
// docs' Corefiles and check their log lines and commands.)

package multipass

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/prometheus/client_golang/prometheus"
)

// The manual is this folder's README.md.
const manual = "go-shim/README.md"

// docTexts returns the docs by their path in the repository: the README,
// the manual and docs/*.md.
func docTexts(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]string{}
	for _, p := range append([]string{"../README.md", "README.md"}, paths...) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name, up := strings.CutPrefix(p, "../")
		if !up {
			name = "go-shim/" + p
		}
		texts[name] = string(b)
	}
	return texts
}

// section returns the text of the `## name` section of a markdown text.
func section(t *testing.T, text, name string) string {
	t.Helper()
	_, s, ok := strings.Cut(text, "\n## "+name+"\n")
	if !ok {
		t.Fatalf("%s has no section %q", manual, name)
	}
	s, _, _ = strings.Cut(s, "\n## ")
	return s
}

// bullets returns the items of a markdown list that begin "* `word`", by
// word, each on one line: the item runs to the next item or blank line.
func bullets(text string) map[string]string {
	out := map[string]string{}
	var name string
	for _, line := range strings.Split(text, "\n") {
		if m := regexp.MustCompile("^\\* `([^`]+)`").FindStringSubmatch(line); m != nil {
			name = m[1]
			out[name] = line
		} else if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "* ") {
			name = ""
		} else if name != "" {
			out[name] += " " + strings.TrimSpace(line)
		}
	}
	return out
}

// syntaxProperties reads the manual's block of "All options": each line a
// property with its values, `[X]` optional and `[X...]` repeatable.
func syntaxProperties(t *testing.T, syntax string) map[string]property {
	t.Helper()
	_, block, ok := strings.Cut(syntax, "~~~\nmultipass [ZONES...] {\n")
	if !ok {
		t.Fatalf("%s's Syntax has no block `multipass [ZONES...] {`", manual)
	}
	block, _, _ = strings.Cut(block, "}\n~~~")
	documented := map[string]property{}
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		words := strings.Fields(line)
		p := property{max: len(words) - 1}
		for _, w := range words[1:] {
			if !strings.HasPrefix(w, "[") {
				p.min++
			}
			if strings.HasSuffix(w, "...]") {
				p.max = -1
			}
		}
		documented[words[0]] = p
	}
	return documented
}

// parseBlock parses a block of the zone vm.test with the given lines.
func parseBlock(lines ...string) (*Multipass, error) {
	return parse(caddy.NewTestController("dns", block(strings.Join(lines, "\n"))))
}

// sameOptions tells whether two blocks parsed to the same options.
func sameOptions(a, b *Multipass) bool {
	return reflect.DeepEqual(a.sourceOpts, b.sourceOpts) && reflect.DeepEqual(a.resolverOpts, b.resolverOpts) &&
		reflect.DeepEqual(a.Fall, b.Fall)
}

// The properties are one table, and the manual's Syntax lists the same
// names with the same number of values, each with a bullet.
func TestPropertiesAreTheManualsSyntax(t *testing.T) {
	syntax := section(t, docTexts(t)[manual], "Syntax")
	documented := syntaxProperties(t, syntax)
	described := bullets(syntax)
	for name := range documented {
		if _, ok := properties[name]; !ok {
			t.Errorf("%s's Syntax lists %s, which the parser does not know", manual, name)
		}
	}
	for name, p := range properties {
		if d, ok := documented[name]; !ok || d.min != p.min || d.max != p.max {
			t.Errorf("property %s takes %d to %d values (-1: any); %s's Syntax: %d to %d (listed %t)",
				name, p.min, p.max, manual, d.min, d.max, ok)
		}
		if _, ok := described[name]; !ok {
			t.Errorf("%s's Syntax has no bullet \"* `%s` ...\"", manual, name)
		}
	}
}

// documentedDefault finds the default a bullet states: "Default **V**",
// "Default `V`" or "`V` (the default)"; ok is false when it states none.
func documentedDefault(bullet string) (value string, ok bool) {
	for _, re := range []string{"Default:? \\*\\*([^*]+)\\*\\*", "Default:? `([^`]+)`", "`([^`]+)` \\(the default\\)"} {
		if m := regexp.MustCompile(re).FindStringSubmatch(bullet); m != nil {
			return m[1], true
		}
	}
	return "", false
}

// Each default the manual states is the default: a block that writes it
// parses as a block that writes nothing, whose options come from the core
// (coreDefaults). A property the manual gives no default value is unset in
// such a block.
func TestManualDefaultsAreTheCores(t *testing.T) {
	described := bullets(section(t, docTexts(t)[manual], "Syntax"))
	plain, err := parseBlock()
	if err != nil {
		t.Fatal(err)
	}
	for name := range properties {
		bullet, ok := described[name]
		if !ok {
			continue // TestPropertiesAreTheManualsSyntax says so
		}
		if value, ok := documentedDefault(bullet); ok {
			m, err := parseBlock(name + " " + value)
			if err != nil {
				t.Errorf("%s says the default of %s is %q, which setup refuses: %v", manual, name, value, err)
			} else if !sameOptions(m, plain) {
				for _, f := range changedFields(optionsOf(plain), optionsOf(m), "") {
					t.Errorf("%s says the default of %s is %q, but a block without it has %s = %v",
						manual, name, value, f.name, valueOf(f.plain))
				}
			}
			continue
		}
		// No default value: what the property sets is unset by default.
		m, err := parseBlock(name + " " + propertySamples[name])
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range changedFields(optionsOf(plain), optionsOf(m), "") {
			if !f.plain.IsZero() {
				t.Errorf("%s states no default for %s, but a block without it has %s = %v: write \"Default **...**\"",
					manual, name, f.name, valueOf(f.plain))
			}
		}
	}
}

// optionsOf holds what parse sets, for reflect to walk.
func optionsOf(m *Multipass) reflect.Value {
	return reflect.ValueOf(struct {
		source   sourceOptions
		resolver resolverOptions
		fall     []string
	}{m.sourceOpts, m.resolverOpts, m.Fall.Zones})
}

type changedField struct {
	name  string
	plain reflect.Value
}

// changedFields lists the leaf fields in which two values differ.
func changedFields(a, b reflect.Value, prefix string) []changedField {
	if a.Kind() != reflect.Struct {
		if reflect.DeepEqual(valueOf(a), valueOf(b)) {
			return nil
		}
		return []changedField{{strings.TrimSuffix(prefix, "."), a}}
	}
	var out []changedField
	for i := range a.NumField() {
		out = append(out, changedFields(a.Field(i), b.Field(i), prefix+a.Type().Field(i).Name+".")...)
	}
	return out
}

// valueOf reads a (maybe unexported) leaf's value.
func valueOf(v reflect.Value) any {
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint()
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range v.Len() {
			out[i] = valueOf(v.Index(i))
		}
		return out
	}
	panic("no value for a " + v.Kind().String())
}

// beyond returns the values just outside a range's end, lo or hi: one
// less or one more for an integer, a millisecond for a duration.
func beyond(v string, step int) (string, bool) {
	if n, err := strconv.Atoi(v); err == nil {
		return strconv.Itoa(n + step), true
	}
	if d, err := time.ParseDuration(v); err == nil {
		return (d + time.Duration(step)*time.Millisecond).String(), true
	}
	return "", false
}

// rangeBeside is what a block writes beside a property to try its range: a
// probe must be shorter than refresh.
var rangeBeside = map[string]string{"probe": "refresh 24h"}

// Each range the manual states ("from `1s` to `1h`") is the parser's: both
// ends are taken, the values just outside are refused.
func TestManualRangesAreTheParsers(t *testing.T) {
	described := bullets(section(t, docTexts(t)[manual], "Syntax"))
	ranges := 0
	for name, bullet := range described {
		m := regexp.MustCompile("from `?([0-9][^ `,]*)`? to `?([0-9][^ `,.]*)`?").FindStringSubmatch(bullet)
		if m == nil {
			continue
		}
		ranges++
		for i, end := range []string{m[1], m[2]} {
			if _, err := parseBlock(name+" "+end, rangeBeside[name]); err != nil {
				t.Errorf("%s says %s takes %s to %s, but setup refuses %s: %v", manual, name, m[1], m[2], end, err)
			}
			out, ok := beyond(end, []int{-1, 1}[i])
			if !ok {
				t.Errorf("%s: %s's range %s to %s is neither integers nor durations", manual, name, m[1], m[2])
				continue
			}
			if _, err := parseBlock(name+" "+out, rangeBeside[name]); err == nil {
				t.Errorf("%s says %s takes %s to %s, but setup takes %s", manual, name, m[1], m[2], out)
			}
		}
	}
	if ranges == 0 {
		t.Errorf("%s's Syntax states no range (\"from X to Y\")", manual)
	}
}

// README.md's table of options, if it has one (a table whose first column
// is headed "option"), names properties, with their defaults.
func TestReadmeOptionsTable(t *testing.T) {
	plain, err := parseBlock()
	if err != nil {
		t.Fatal(err)
	}
	var head []string
	for _, line := range strings.Split(docTexts(t)["README.md"], "\n") {
		if !strings.HasPrefix(line, "|") {
			head = nil
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), "|")
		for i := range cells {
			cells[i] = strings.Trim(strings.TrimSpace(cells[i]), "`*")
		}
		if head == nil {
			head = cells
			continue
		}
		if !strings.EqualFold(head[0], "option") || strings.HasPrefix(cells[0], "-") {
			continue
		}
		name := strings.Fields(cells[0])[0]
		if _, ok := properties[name]; !ok {
			t.Errorf("README.md's options table lists %s, which the parser does not know", name)
			continue
		}
		for i, h := range head {
			if strings.EqualFold(h, "default") && i < len(cells) {
				if m, err := parseBlock(name + " " + cells[i]); err == nil && !sameOptions(m, plain) {
					t.Errorf("README.md says the default of %s is %q; it is not", name, cells[i])
				}
			}
		}
	}
}

// describedMetrics returns the collector's metrics with their labels.
func describedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	ch := make(chan *prometheus.Desc, 64)
	collector{}.Describe(ch)
	close(ch)
	out := map[string][]string{}
	for d := range ch {
		m := regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`).FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name and labels of %s", d)
		}
		out[m[1]] = strings.Split(m[2], ",")
	}
	return out
}

var metricRE = regexp.MustCompile(`\b(coredns_multipass_[a-z_]+)(\{([^}]*)\})?`)

// labelNames reads "source, binary, kind" or `kind="full", source=~".+"`.
func labelNames(list string) []string {
	var names []string
	for _, l := range strings.Split(list, ",") {
		if n := strings.TrimSpace(regexp.MustCompile(`[!=~].*`).ReplaceAllString(l, "")); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// The manual's Metrics section lists every metric of the collector with all
// its labels ("* `name{label, ...}` - ..."), and nothing else; every metric
// any doc names exists (a histogram's _bucket, _sum and _count too), with
// the labels it gives it.
func TestMetricsAreTheDocs(t *testing.T) {
	metrics := describedMetrics(t)
	texts := docTexts(t)
	listed := map[string]bool{}
	for name, bullet := range bullets(section(t, texts[manual], "Metrics")) {
		m := metricRE.FindStringSubmatch(name)
		if m == nil || m[0] != name {
			continue
		}
		listed[m[1]] = true
		labels, ok := metrics[m[1]]
		if !ok {
			t.Errorf("%s's Metrics lists %s, which the plugin does not export", manual, m[1])
		} else if got := labelNames(m[3]); !sameSet(got, labels) {
			t.Errorf("%s's Metrics gives %s the labels %v; it has %v (%s)", manual, m[1], got, labels, bullet)
		}
	}
	for name, labels := range metrics {
		if !listed[name] {
			t.Errorf("%s's Metrics does not list %s{%s}", manual, name, strings.Join(labels, ", "))
		}
	}
	for path, text := range texts {
		for _, m := range metricRE.FindAllStringSubmatch(text, -1) {
			name := m[1]
			labels, ok := metrics[name]
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, cut := strings.CutSuffix(name, suffix); cut && !ok {
					labels, ok = metrics[base]
					if suffix == "_bucket" {
						labels = append(slices.Clone(labels), "le")
					}
				}
			}
			if !ok {
				t.Errorf("%s names %s, which the plugin does not export", path, name)
				continue
			}
			for _, l := range labelNames(m[3]) {
				if !slices.Contains(labels, l) {
					t.Errorf("%s gives %s the label %s; it has %v", path, name, l, labels)
				}
			}
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
