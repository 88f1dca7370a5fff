package backup

import (
	"fmt"

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/termsafe"
)

// kindsMatch says what is wrong, if anything, with the volumes the entries of
// m restore, for a stack whose database keeps its data in volume db ("": a
// stack without a database): a dump must go into the database's volume and
// nothing else may, and no two entries may fill one volume. For a stack
// stackctl does not know (known false), only the last is checked. stackctl never
// writes such an archive; a crafted one would have pg_restore or a tar write
// where the other belongs.
func kindsMatch(m archive.Manifest, db string, known bool) error {
	q := termsafe.String
	filled := map[string]string{}
	for _, en := range m.Entries {
		if other, ok := filled[en.Volume]; ok {
			return fmt.Errorf("entries %s and %s both restore volume %s", q(other), q(en.Name), q(en.Volume))
		}
		filled[en.Volume] = en.Name
		switch {
		case !known:
		case en.Kind == archive.KindPostgres && db == "":
			return fmt.Errorf("entry %s is a database dump, and stack %s has no database", q(en.Name), q(m.Stack))
		case en.Kind == archive.KindPostgres && en.Volume != db:
			return fmt.Errorf("entry %s is a database dump for volume %s, which is not the database's (%s)", q(en.Name), q(en.Volume), db)
		case en.Kind != archive.KindPostgres && db != "" && en.Volume == db:
			return fmt.Errorf("entry %s is a %s for the database's volume %s, which only a database dump restores", q(en.Name), q(en.Kind), db)
		}
	}
	return nil
}
