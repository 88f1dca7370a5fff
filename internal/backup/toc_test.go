package backup

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The table of contents of real dumps, as 'pg_restore -l' printed them
// (testdata/*.toc): Redmine 6.0's on PostgreSQL 17 passes; a dump of a
// database with a function that runs 'COPY … FROM PROGRAM', called by a
// table's check, is refused for its function. A check that reads a file with
// a superuser's function passes this check: the role's rights stop it
// (e2e TestBackupRestore).
func TestCheckListing(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tc := range []struct {
		name, listing string
		says          string
	}{
		{name: "Redmine 6.0 on PostgreSQL 17", listing: read("redmine-6.0-pg17.toc")},
		{name: "a check that reads a file", listing: read("check-reads-file.toc")},
		{name: "a function that runs a program", listing: read("function-copy-from-program.toc"),
			says: "the database's dump holds what no Redmine dump does: FUNCTION public run_program() postgres: stackctl restores tables"},
		{name: "a type that starts as an allowed one", listing: "1; 0 0 TABLE ATTACH public part_1 redmine\n",
			says: "TABLE ATTACH public part_1 redmine"},
		{name: "an extension, a trigger, a grant", listing: "1; 3079 1 EXTENSION - dblink \n2; 2620 2 TRIGGER public issues t redmine\n3; 0 0 ACL - SCHEMA public pg_database_owner\n",
			says: "EXTENSION - dblink; TRIGGER public issues t redmine; ACL - SCHEMA public pg_database_owner"},
		{name: "an unknown type", listing: "1; 0 0 WHATEVER public x redmine\n", says: "1; 0 0 WHATEVER public x redmine (an unknown type)"},
		{name: "a line that is no entry", listing: "DROP ROLE x\n", says: "DROP ROLE x (not an entry)"},
		{name: "no entry at all", listing: ";\n; Archive created at 2026-12-07\n", says: "the database's dump holds no entry"},
		{name: "many", listing: strings.Repeat("1; 1255 1 FUNCTION public f() redmine\n", 12), says: "FUNCTION public f() redmine and 2 more"},
		// Names from the dump reach the message escaped.
		{name: "a name that forges a line", listing: "1; 1255 1 FUNCTION public f\x1b[2J\rall good redmine\n", says: `FUNCTION "public f\x1b[2J\rall good redmine"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkListing(tc.listing)
			if tc.says == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err %v, want one saying %q", err, tc.says)
			}
		})
	}
}

// The head read for the table of contents is the whole dump when it is
// shorter than the bound, and the bound otherwise, the rest left to read.
func TestReadHead(t *testing.T) {
	short := bytes.Repeat([]byte("x"), 1000)
	head, whole, err := readHead(bytes.NewReader(short))
	if err != nil || !whole || !bytes.Equal(head, short) {
		t.Fatalf("short dump: %d bytes, whole %v, err %v", len(head), whole, err)
	}
	long := bytes.NewReader(make([]byte, tocLimit+10))
	head, whole, err = readHead(long)
	if err != nil || whole || len(head) != tocLimit || long.Len() != 10 {
		t.Fatalf("long dump: %d bytes, whole %v, err %v, %d left", len(head), whole, err, long.Len())
	}
}
