package stack

import (
	"context"
	"fmt"

	"github.com/stackctl/stackctl/internal/catalog"
)

// The application polls a mailbox from a thread of each of its containers,
// but only the container its database names in MailIn.Table does (see
// catalog.MailIn): these point that name at the container that serves, and
// take it away before the data is copied or left.

// pointMailIn lets the application's container in slot of generation gen,
// the one that serves, poll the site's mailbox, alone.
func (r Runner) pointMailIn(ctx context.Context, st catalog.Stack, gen, slot int) error {
	m := st.MailIn
	if m == nil || st.Generations == nil || r.Site.Mail.IMAP == nil {
		return nil
	}
	id, err := r.serviceContainer(ctx, st, st.Generations.AppService(gen, slot))
	if err != nil {
		return err
	}
	// The engine's host name of a container that sets none (the model sets none).
	host := id[:min(12, len(id))]
	sql := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %[1]s (host text NOT NULL); BEGIN; DELETE FROM %[1]s; INSERT INTO %[1]s VALUES ('%[2]s'); COMMIT;", m.Table, host)
	if _, err := r.psql(ctx, st, gen, sql); err != nil {
		return fmt.Errorf("letting %s poll mail for stack %s: %w", host, st.Name, err)
	}
	return nil
}

// pauseMailIn stops the polling into generation gen's data and waits for a
// poll under way to end: from its return, no mail goes into that data until
// pointMailIn. The name goes first, committed; then the advisory lock a poll
// holds is taken and given back, which waits for the poll that holds it.
func (r Runner) pauseMailIn(ctx context.Context, st catalog.Stack, gen int) error {
	m := st.MailIn
	if m == nil || st.Generations == nil || r.Site.Mail.IMAP == nil {
		return nil
	}
	sql := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %[1]s (host text NOT NULL); BEGIN; DELETE FROM %[1]s; COMMIT; "+
		"SELECT pg_advisory_lock(%[2]d); SELECT pg_advisory_unlock(%[2]d);", m.Table, m.LockKey)
	if _, err := r.psql(ctx, st, gen, sql); err != nil {
		return fmt.Errorf("stopping stack %s's mail polling: %w", st.Name, err)
	}
	return nil
}
