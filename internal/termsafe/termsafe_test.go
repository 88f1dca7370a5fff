package termsafe

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "redmine-6.0.5 debian", "redmine-6.0.5 debian"},
		{"Cyrillic and emoji stay readable", "стек 🚀 👩‍💻 «ok»", "стек 🚀 👩‍💻 «ok»"},
		{"a quote and a backslash alone need nothing", `C:\x "y"`, `C:\x "y"`},
		{"clear the screen", "redmine\x1b[2J", `"redmine\x1b[2J"`},
		{"a forged line", "redmine\r\nall good", `"redmine\r\nall good"`},
		{"a tab breaks no column", "a\tb", `"a\tb"`},
		{"quotes escaped once quoted", "\x1b\"\\", `"\x1b\"\\"`},
		{"DEL and C1's CSI", "a\x7fb\u009b2J", `"a\x7fb\u009b2J"`},
		{"bidirectional overrides", "evil\u202etxt.exe \u2066x\u2069 \u200f", `"evil\u202etxt.exe \u2066x\u2069 \u200f"`},
		{"line separators", "a\u2028b\u2029", `"a\u2028b\u2029"`},
		{"invalid UTF-8", "a\xffb", `"a\xffb"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := String(tc.in); got != tc.want {
				t.Errorf("String(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestText(t *testing.T) {
	in := "stack x\x1b[2J\rall good\n    fix: \u202eexe\tnow \xfe"
	want := "stack x\\x1b[2J\\rall good\n    fix: \\u202eexe\tnow \\xfe"
	if got := Text(in); got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
	if got := Text("two\nlines, Ω"); got != "two\nlines, Ω" {
		t.Errorf("a safe message changed: %q", got)
	}
}

// TestJSON: the encoded value keeps its meaning and validity, with no
// character a terminal obeys left raw.
func TestJSON(t *testing.T) {
	value := map[string]string{"stack": "red\x1b[2J\rall good", "profile": "a\x7f\u009b\u202e\u2028z", "name": "пароль 🚀"}
	b, err := json.MarshalIndent(value, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got := JSON(b)
	if !json.Valid(got) {
		t.Fatalf("not valid JSON: %s", got)
	}
	var back map[string]string
	if err := json.Unmarshal(got, &back); err != nil || back["stack"] != value["stack"] || back["profile"] != value["profile"] || back["name"] != value["name"] {
		t.Errorf("the value changed: %q, %v", back, err)
	}
	if s := string(got); strings.ContainsFunc(s, func(r rune) bool { return r != '\n' && unsafe(r) }) || !strings.Contains(s, `\u007f\u009b\u202e\u2028z`) || !strings.Contains(s, "пароль 🚀") {
		t.Errorf("JSON left something raw, or escaped the readable: %s", got)
	}
	if plain := []byte(`{"a": "b"}` + "\n"); string(JSON(plain)) != string(plain) {
		t.Errorf("plain JSON changed: %s", JSON(plain))
	}
}
