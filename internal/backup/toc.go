package backup

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/termsafe"
)

// tocLimit bounds the head of a dump read for its table of contents: pg_dump
// writes the table of contents first, every entry's SQL in it, and a Redmine
// dump's takes about 130 KiB (testdata/redmine-6.0-pg17.toc).
const tocLimit = 4 << 20

// dumpEntryTypes are the kinds of entry a dump of Redmine's database holds
// (testdata/*.toc, printed by 'pg_restore -l' from real dumps), and the few a
// plugin's tables may add that run no code of their own: foreign keys, checks,
// views, comments, the planner's statistics; and the settings pg_dump puts
// first. Anything else (a function, trigger, extension, rule, policy, large
// object, a grant, a role's setting) no Redmine dump needs, and it is refused.
var dumpEntryTypes = []string{
	"TABLE", "TABLE DATA", "SEQUENCE", "SEQUENCE OWNED BY", "SEQUENCE SET", "DEFAULT", "INDEX", "CONSTRAINT",
	"FK CONSTRAINT", "CHECK CONSTRAINT", "VIEW", "COMMENT", "STATISTICS DATA",
	"ENCODING", "STDSTRINGS", "SEARCHPATH",
}

// knownEntryTypes are the kinds of entry pg_dump writes (PostgreSQL 12 to
// 18), for reading a listing's type: the longest that starts its rest, so
// that "TABLE ATTACH" is not read as "TABLE".
var knownEntryTypes = []string{
	"ACCESS METHOD", "ACL", "AGGREGATE", "BLOB", "BLOB METADATA", "BLOBS", "CAST", "CHECK CONSTRAINT",
	"COLLATION", "COMMENT", "CONSTRAINT", "CONVERSION", "DATABASE", "DATABASE PROPERTIES", "DEFAULT",
	"DEFAULT ACL", "DOMAIN", "ENCODING", "EVENT TRIGGER", "EXTENSION", "FK CONSTRAINT",
	"FOREIGN DATA WRAPPER", "FOREIGN SERVER", "FOREIGN TABLE", "FUNCTION", "INDEX", "INDEX ATTACH",
	"LARGE OBJECT", "MATERIALIZED VIEW", "MATERIALIZED VIEW DATA", "OPERATOR", "OPERATOR CLASS",
	"OPERATOR FAMILY", "POLICY", "PROCEDURAL LANGUAGE", "PROCEDURE", "PUBLICATION", "PUBLICATION TABLE",
	"PUBLICATION TABLES IN SCHEMA", "ROW SECURITY", "RULE", "SCHEMA", "SEARCHPATH", "SECURITY LABEL",
	"SEQUENCE", "SEQUENCE OWNED BY", "SEQUENCE SET", "SERVER", "SHELL TYPE", "STATISTICS",
	"STATISTICS DATA", "STDSTRINGS", "SUBSCRIPTION", "SUBSCRIPTION TABLE", "TABLE", "TABLE ATTACH",
	"TABLE DATA", "TEXT SEARCH CONFIGURATION", "TEXT SEARCH DICTIONARY", "TEXT SEARCH PARSER",
	"TEXT SEARCH TEMPLATE", "TRANSFORM", "TRIGGER", "TYPE", "USER MAPPING", "VIEW",
}

// tocEntry is one line of 'pg_restore -l': "<dump id>; <table oid> <oid> <type> <schema> <name> <owner>".
var tocEntry = regexp.MustCompile(`^(\d+); (\d+) (\d+) (.*)$`)

// checkListing refuses a dump whose table of contents (listing, as
// 'pg_restore -l' prints it) holds an entry of a type a Redmine dump does
// not, naming every such entry.
func checkListing(listing string) error {
	var bad []string
	entries := 0
	sc := bufio.NewScanner(strings.NewReader(listing))
	sc.Buffer(nil, tocLimit)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		entries++
		m := tocEntry.FindStringSubmatch(line)
		if m == nil {
			bad = append(bad, termsafe.String(line)+" (not an entry)")
			continue
		}
		typ := entryType(m[4])
		switch {
		case typ == "":
			bad = append(bad, termsafe.String(line)+" (an unknown type)")
		case !slices.Contains(dumpEntryTypes, typ):
			bad = append(bad, typ+" "+termsafe.String(strings.TrimSpace(strings.TrimPrefix(m[4], typ))))
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the dump's table of contents: %w", err)
	}
	if len(bad) > 0 {
		const most = 10
		more := ""
		if len(bad) > most {
			more = fmt.Sprintf(" and %d more", len(bad)-most)
			bad = bad[:most]
		}
		return fmt.Errorf("the database's dump holds what no Redmine dump does: %s%s: "+
			"stackctl restores tables, their data, sequences, defaults, indexes, constraints, views and comments alone",
			strings.Join(bad, "; "), more)
	}
	if entries == 0 {
		return errors.New("the database's dump holds no entry")
	}
	return nil
}

// entryType is the type an entry's rest (what follows its oids) starts with:
// the longest known one followed by a space, or "".
func entryType(rest string) string {
	best := ""
	for _, t := range knownEntryTypes {
		if strings.HasPrefix(rest, t+" ") && len(t) > len(best) {
			best = t
		}
	}
	return best
}

// readHead reads the head of dump in which pg_dump's custom format carries
// its table of contents: tocLimit bytes, or the whole dump when it is
// shorter (whole).
func readHead(dump io.Reader) (head []byte, whole bool, err error) {
	head = make([]byte, tocLimit)
	n, err := io.ReadFull(dump, head)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return head[:n], true, nil
	case err != nil:
		return nil, false, err
	}
	return head, false, nil
}

// checkTOC reads the head of dump and has pg_restore list its table of
// contents in container (which needs no connection), refusing a dump that is
// none, one whose table of contents passes tocLimit, and one whose entries
// a Redmine dump does not hold (checkListing), before anything of it runs.
// It returns the head, which the restore is fed first, then the rest of dump:
// the archive is still read once.
func (rs *restore) checkTOC(ctx context.Context, container string, dump io.Reader) ([]byte, error) {
	head, whole, err := readHead(dump)
	if err != nil {
		return nil, err
	}
	var listing bytes.Buffer
	// pg_restore stops reading at the end of the table of contents: the rest
	// of the head is drained, so that feeding it does not fail on a closed pipe.
	list := []string{"sh", "-c", `pg_restore --list; rc=$?; cat >/dev/null; exit $rc`}
	err = rs.e.Exec(ctx, container, list, engine.ExecOptions{Stdin: bytes.NewReader(head), Stdout: &listing})
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	switch {
	case err != nil && !whole:
		return nil, fmt.Errorf("%w: %s: the table of contents of the database's dump is not within its first %s, far more than a Redmine dump's: %v",
			ErrRefused, rs.name, Bytes(tocLimit), err)
	case err != nil:
		return nil, fmt.Errorf("%w: %s: the database's dump is no pg_dump archive that PostgreSQL can read: %v", ErrRefused, rs.name, err)
	}
	if err := checkListing(listing.String()); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrRefused, rs.name, err)
	}
	return head, nil
}
